"""The old billing integration, replaced long ago; nothing imports it."""


def invoice(order_id: int) -> str:
    return f"INV-{order_id:06d}"
