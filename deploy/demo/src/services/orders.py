"""The order repository (in memory, for the demo)."""

from typing import Dict, List, Optional

from src.models import Order, OrderLine
from src.utils.money import format_cents

_ORDERS: Dict[int, Order] = {
    1: Order(id=1, customer="ada", lines=[OrderLine(sku="book", quantity=2, unit_price_cents=1250)]),
    2: Order(id=2, customer="grace", lines=[OrderLine(sku="lamp", quantity=1, unit_price_cents=4999)]),
}


def list_orders() -> List[Order]:
    return list(_ORDERS.values())


def get_order(order_id: int) -> Optional[Order]:
    return _ORDERS.get(order_id)


def describe(order: Order) -> str:
    return f"order {order.id} for {order.customer}: {format_cents(order.total_cents)}"
