"""A (fake) PDF renderer: heavy to import in real life, so it is imported on first use."""

from src.models import Order
from src.utils.money import format_cents

CONTENT_TYPE = "application/pdf"


def render(order: Order) -> bytes:
    body = f"Order {order.id}\nCustomer: {order.customer}\nTotal: {format_cents(order.total_cents)}\n"
    return b"%PDF-1.4\n% demo\n" + body.encode()
