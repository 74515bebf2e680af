"""A (fake) spreadsheet renderer, imported on first use."""

from src.models import Order

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render(order: Order) -> bytes:
    rows = [f"{line.sku}\t{line.quantity}\t{line.unit_price_cents}" for line in order.lines]
    return "\n".join(["sku\tquantity\tunit_price_cents", *rows]).encode()
