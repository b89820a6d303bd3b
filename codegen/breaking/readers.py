"""Who a change affects: the services that receive a subject, named from the contracts.

Findings name them ("gateway and notification"), never "its subscribers".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codegen.model import Catalog

__all__ = ["listed", "receivers", "who"]


def receivers(catalog: Catalog, subject: str) -> tuple[str, ...]:
    """The services with a receive operation on `subject`, sorted."""
    return tuple(
        sorted(
            {
                op.service
                for service in catalog.services.values()
                for op in service.receives
                if op.channel.subject == subject
            }
        )
    )


def listed(names: tuple[str, ...]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def who(group: str, names: tuple[str, ...]) -> str:
    """`new subscribers (gateway and notification)`, or `... (none in the contracts yet)`."""
    return f"{group} ({listed(names) or 'none in the contracts yet'})"
