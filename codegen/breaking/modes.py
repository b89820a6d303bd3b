"""Compatibility modes: which directions a subject's payload is checked in, and how far back.

BACKWARD: the new reader reads what the previous writer wrote (retained messages).
FORWARD: the previous reader reads what the new writer writes (subscribers not yet upgraded).
FULL: both. `_TRANSITIVE`: against every earlier version in history, not only the base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from codegen.breaking.base import Contracts
    from codegen.model import Catalog

__all__ = ["Direction", "directions", "mode_of", "promised", "transitive"]

Direction = Literal["backward", "forward"]
_STRICTEST = "FULL_TRANSITIVE"


def mode_of(catalog: Catalog, subject: str) -> str:
    """The mode of the stream that captures `subject`; the strictest when none or several do."""
    streams = catalog.stream_of(subject)
    return streams[0].compatibility if len(streams) == 1 else _STRICTEST


def directions(mode: str) -> tuple[Direction, ...]:
    """The directions a mode checks."""
    if mode.startswith("FULL"):
        return ("backward", "forward")
    return ("backward",) if mode.startswith("BACKWARD") else ("forward",)


def transitive(mode: str) -> bool:
    """Whether the mode compares with every earlier version, not only the base."""
    return mode.endswith("_TRANSITIVE")


def promised(version: Contracts, subject: str) -> bool:
    """Whether an earlier version's platform.yaml already wrote down a `compatibility` for
    the stream of `subject`: transitive history starts where the promise was written."""
    streams = version.catalog.stream_of(subject)
    if len(streams) != 1:
        return False
    place = streams[0].place
    _, raw = version.workspace.resolve(place)
    return isinstance(raw, dict) and "compatibility" in raw
