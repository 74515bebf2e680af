"""Report endpoints import their renderers lazily: the first request pays for the import."""

from fastapi import APIRouter, HTTPException, Response

from src.services import orders as order_service

router = APIRouter(prefix="/reports")


@router.get("/{order_id}.pdf")
def pdf_report(order_id: int) -> Response:
    from src.reports import pdf  # lazy: loaded by the first request

    order = _order(order_id)
    return Response(pdf.render(order), media_type=pdf.CONTENT_TYPE)


@router.get("/{order_id}.xlsx")
def spreadsheet_report(order_id: int) -> Response:
    from src.reports import spreadsheet  # lazy as well

    order = _order(order_id)
    return Response(spreadsheet.render(order), media_type=spreadsheet.CONTENT_TYPE)


def _order(order_id: int):
    order = order_service.get_order(order_id)
    if order is None:
        raise HTTPException(status_code=404, detail="no such order")
    return order
