"""Names: from contract names (CamelCase messages, camelCase operation ids) to code names."""

from __future__ import annotations

import re

__all__ = ["camel_words", "handler_name", "lower_camel", "publisher_method", "snake"]

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")


def camel_words(name: str) -> list[str]:
    """Split `OrderCreated` or `placeOrder` into words."""
    return _WORD.findall(name)


def snake(name: str) -> str:
    """`OrderCreated` -> `order_created`; `getOrder` -> `get_order`."""
    return "_".join(w.lower() for w in camel_words(name))


def lower_camel(name: str) -> str:
    """`OrderCreated` -> `orderCreated`."""
    return name[:1].lower() + name[1:]


def handler_name(message: str, kind: str) -> str:
    """Events are handled by `on_<event>`, commands by the command's verb phrase."""
    return snake(message) if kind == "command" else f"on_{snake(message)}"


def publisher_method(message: str) -> str:
    """A publisher method is the message name in snake_case."""
    return snake(message)
