from src.models.domain import Order, OrderLine

__all__ = ["Order", "OrderLine"]
