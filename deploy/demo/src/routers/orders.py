from typing import List

from fastapi import APIRouter, HTTPException

from src.models import Order
from src.services import orders as order_service

router = APIRouter(prefix="/orders")


@router.get("", response_model=List[Order])
def list_orders() -> List[Order]:
    return order_service.list_orders()


@router.get("/{order_id}")
def get_order(order_id: int) -> dict:
    order = order_service.get_order(order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="no such order")
    return {"order": order.model_dump(), "summary": order_service.describe(order)}
