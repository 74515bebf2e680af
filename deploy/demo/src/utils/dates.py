"""Nothing imports this module: dead code the audit should list."""

from datetime import date


def quarter(day: date) -> int:
    return (day.month - 1) // 3 + 1
