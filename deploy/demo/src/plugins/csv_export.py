"""CSV export plugin (the default)."""

import csv
import io
from typing import Iterable

from src.models import Order

CONTENT_TYPE = "text/csv"


def export(orders: Iterable[Order]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "customer", "total_cents"])
    for order in orders:
        writer.writerow([order.id, order.customer, order.total_cents])
    return buffer.getvalue()
