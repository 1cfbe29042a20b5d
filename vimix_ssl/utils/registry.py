"""Name → object tables filled by decorators (encoders, stage methods)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def registrar(table: dict[str, T], what: str) -> Callable[[str], Callable[[T], T]]:
    """A decorator factory ``register(name)`` that puts the decorated object in ``table``.

    Registering a different object under a taken name is an error naming both.
    """

    def register(name: str) -> Callable[[T], T]:
        def decorator(item: T) -> T:
            if name in table and table[name] is not item:
                raise ValueError(f"{what} {name!r} is already registered by {table[name]!r}")
            table[name] = item
            return item

        return decorator

    return register
