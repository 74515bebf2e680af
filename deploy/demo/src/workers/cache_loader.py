"""Loads the caches; imported from the cache-warmer thread."""

from src.services import orders

CACHE: dict = {}


def warm() -> None:
    for order in orders.list_orders():
        CACHE[order.id] = orders.describe(order)
