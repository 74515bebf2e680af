"""Domain models."""

from typing import List

from pydantic import BaseModel


class OrderLine(BaseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class Order(BaseModel):
    id: int
    customer: str
    lines: List[OrderLine]

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.unit_price_cents for line in self.lines)
