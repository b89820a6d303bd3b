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

__all__ = [
    "Direction",
    "applied_mode",
    "directions",
    "mode_of",
    "promised",
    "stricter",
    "transitive",
    "weaker",
]

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


def stricter(a: str, b: str) -> str:
    """The mode that checks everything `a` or `b` checks."""
    both = {*directions(a), *directions(b)}
    kind = "FULL" if len(both) == 2 else ("BACKWARD" if "backward" in both else "FORWARD")
    return f"{kind}_TRANSITIVE" if transitive(a) or transitive(b) else kind


def weaker(new: str, old: str) -> bool:
    """Whether `new` leaves out a check that `old` makes (a direction, or the history)."""
    return stricter(new, old) != new


def applied_mode(current: Contracts, subject: str) -> str:
    """The mode the payload rules apply to `subject` in this change: its stream's mode, made
    no weaker than the base's. Weakening a mode and breaking a payload in one change would
    otherwise pass; the weaker mode applies from the next change on."""
    mode = mode_of(current.catalog, subject)
    streams = current.catalog.stream_of(subject)
    before = dict(current.base_modes).get(streams[0].name) if len(streams) == 1 else None
    return stricter(mode, before) if before is not None else mode


def promised(version: Contracts, subject: str) -> bool:
    """Whether an earlier version's platform.yaml already wrote down a `compatibility` for
    the stream of `subject`: transitive history starts where the promise was written."""
    streams = version.catalog.stream_of(subject)
    if len(streams) != 1:
        return False
    place = streams[0].place
    _, raw = version.workspace.resolve(place)
    return isinstance(raw, dict) and "compatibility" in raw
