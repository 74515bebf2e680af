from fastapi import APIRouter, Request, Response

from src.services import orders as order_service

router = APIRouter()


@router.get("/export")
def export(request: Request) -> Response:
    plugin = request.app.state.exporter
    return Response(plugin.export(order_service.list_orders()), media_type=plugin.CONTENT_TYPE)
