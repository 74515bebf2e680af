import os

from fastapi import APIRouter

router = APIRouter()


@router.get("/health")
def health() -> dict:
    return {"status": "ok"}


@router.get("/pid")
def pid() -> dict:
    return {"pid": os.getpid()}


@router.get("/lazy")
def lazy() -> dict:
    from src import lazy_report  # the first request pays for this import

    return {"rendered": lazy_report.render()}
