"""Plain records for the tracer's start path, which must not import ``dataclasses``.

``dataclasses`` brings ``inspect``, ``ast``, ``dis``, ``re``, ``enum``, ``tokenize`` and more: a
tracer importing it before the application's first import would leave them already imported for
the application, whose own import of them then costs nothing in its report. A record here
declares its fields in ``__slots__`` (one per load, thousands: no ``__dict__``) and writes its
``__init__``; this base gives it the ``==`` and ``repr`` a dataclass would.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Tuple


class Record:
    __slots__: Tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class FrozenRecord(Record):
    """A record set once in ``__init__`` (through ``object.__setattr__``) and hashable."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self._values())
