"""XML export plugin: only loaded when DEMO_EXPORT_PLUGIN=xml_export."""

from typing import Iterable
from xml.sax.saxutils import escape

from src.models import Order

CONTENT_TYPE = "application/xml"


def export(orders: Iterable[Order]) -> str:
    rows = "".join(
        f'<order id="{order.id}" customer="{escape(order.customer)}" total_cents="{order.total_cents}"/>'
        for order in orders
    )
    return f"<orders>{rows}</orders>"
