from fastapi import APIRouter, HTTPException, Request, Response

from src.services import orders as order_service
from src.services.plugins import load_plugin

router = APIRouter()


@router.get("/export")
def export(request: Request) -> Response:
    plugin = request.app.state.exporter
    return Response(plugin.export(order_service.list_orders()), media_type=plugin.CONTENT_TYPE)


@router.get("/export/{plugin_name}")
def export_with(plugin_name: str) -> Response:
    """Any export plugin by name: a typo in the name is a failed import the tracer reports."""
    try:
        plugin = load_plugin(plugin_name)
    except ImportError:
        raise HTTPException(status_code=404, detail=f"no export plugin named {plugin_name!r}")
    return Response(plugin.export(order_service.list_orders()), media_type=plugin.CONTENT_TYPE)
