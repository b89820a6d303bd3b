"""Read a channel's version links (contracts/README.md "Versions side by side").

A message's next major version is a new channel beside the old one, in the owner's
document. The new channel names the subject it replaces; the old one says it is deprecated,
by which subject, and from which day it may be removed:

    sessionRevoked:
      address: auth.session_revoked.v1
      x-deprecated: {replaced-by: auth.session_revoked.v2, sunset: '2027-03-01'}
    sessionRevokedV2:
      address: auth.session_revoked.v2
      x-replaces: auth.session_revoked.v1

Once no one sends or receives the old version, a message whose events its owner keeps in
its event store for good keeps the old channel as `x-stored-only: true` (instead of
`x-deprecated`): retired from the bus, still read back, upcast, from the stored streams.

The build keeps well-formed links; the lint rule `VERSION_LINKS` names what is wrong with
any other, including a pair whose two halves do not point at each other, and
`VERSION_STORED_ONLY` what is wrong with a stored-only channel.
"""

from __future__ import annotations

import os
import re
from datetime import date
from typing import TYPE_CHECKING, Any

from codegen.errors import Finding
from codegen.loader import Ref, join_pointer
from codegen.model import Deprecation
from runtime.upcasting import major_version

if TYPE_CHECKING:
    from codegen.model import Catalog, Channel

__all__ = [
    "DEPRECATED_KEY",
    "REPLACES_KEY",
    "STORED_ONLY_KEY",
    "TODAY_ENV",
    "deprecation_problems",
    "major_version",
    "older_versions",
    "on_bus",
    "read_deprecation",
    "read_replaces",
    "read_stored_only",
    "replaces_problems",
    "today",
]

REPLACES_KEY = "x-replaces"
DEPRECATED_KEY = "x-deprecated"
STORED_ONLY_KEY = "x-stored-only"
_KEYS = {"replaced-by", "sunset", "note"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TODAY_ENV = "A4CO_TODAY"
"""Set to a YYYY-MM-DD date to judge sunsets as on that day (tests; "what fails on ...")."""


def today() -> date:
    """The day sunsets are judged on: `A4CO_TODAY` when set, else the calendar's today."""
    raw = os.environ.get(TODAY_ENV, "")
    if not raw:
        return date.today()
    day = _date(raw)
    if day is None:
        raise ValueError(f"{TODAY_ENV}={raw!r} is not a date written YYYY-MM-DD")
    return day


def older_versions(catalog: Catalog, channel: Channel) -> tuple[Channel, ...]:
    """The versions `channel` replaces that are still declared, newest first (its
    `x-replaces`, that one's, and so on); empty once the older ones are retired. Stored-only
    ones count: they are declared, for the upcasts (`on_bus` keeps those still on the bus)."""
    by_subject = {c.subject: c for c in catalog.channels.values()}
    out: list[Channel] = []
    current = channel
    while current.replaces is not None and current.replaces in by_subject:
        current = by_subject[current.replaces]
        if current.owner != channel.owner or current in out:
            break  # VERSION_LINKS reports a link to another owner's channel, or a loop
        out.append(current)
    return tuple(out)


def on_bus(channels: tuple[Channel, ...]) -> tuple[Channel, ...]:
    """The `channels` still on the bus: all but the stored-only ones, which no one sends or
    receives, so no durable reads them and no publisher copies to them."""
    return tuple(c for c in channels if not c.stored_only)


def replaces_problems(raw: Any, subject: str, place: Ref) -> list[Finding]:
    """What is wrong with an `x-replaces` on the channel of `subject` (empty when well formed)."""
    if not isinstance(raw, str):
        return [Finding(place.file, place.pointer, "x-replaces is not a subject")]
    new, old = major_version(subject), major_version(raw)
    if new is None or old is None or new[0] != old[0] or old[1] != new[1] - 1:
        return [
            Finding(
                place.file,
                place.pointer,
                f"x-replaces '{raw}' is not the previous major version of '{subject}'",
            )
        ]
    return []


def deprecation_problems(raw: Any, subject: str, place: Ref) -> list[Finding]:
    """What is wrong with an `x-deprecated` on the channel of `subject` (empty when well formed)."""
    if not isinstance(raw, dict):
        return [
            Finding(
                place.file, place.pointer, "x-deprecated is not a mapping of sunset, replaced-by"
            )
        ]
    out = [
        Finding(
            place.file, join_pointer(place.pointer, key), f"x-deprecated has an unknown key '{key}'"
        )
        for key in sorted(raw.keys() - _KEYS, key=str)
    ]
    if "sunset" not in raw:
        out.append(
            Finding(
                place.file, join_pointer(place.pointer, "sunset"), "x-deprecated has no sunset date"
            )
        )
    elif _date(raw["sunset"]) is None:
        out.append(
            Finding(
                place.file,
                join_pointer(place.pointer, "sunset"),
                f"sunset {raw['sunset']!r} is not a date written YYYY-MM-DD",
            )
        )
    if "replaced-by" in raw:
        newer, own = major_version(str(raw["replaced-by"])), major_version(subject)
        if newer is None or own is None or newer[0] != own[0] or newer[1] <= own[1]:
            out.append(
                Finding(
                    place.file,
                    join_pointer(place.pointer, "replaced-by"),
                    f"replaced-by '{raw['replaced-by']}' is not a later major version"
                    f" of '{subject}'",
                )
            )
    if "note" in raw and not isinstance(raw["note"], str):
        out.append(Finding(place.file, join_pointer(place.pointer, "note"), "note is not text"))
    return out


def read_replaces(raw: Any, subject: str, place: Ref) -> str | None:
    """The subject an `x-replaces` names, or None when absent or malformed (lint reports it)."""
    if raw is None or replaces_problems(raw, subject, place):
        return None
    return str(raw)


def read_stored_only(raw: Any) -> bool:
    """Whether an `x-stored-only` marks its channel stored-only: only the value `true` does
    (`VERSION_STORED_ONLY` reports any other)."""
    return raw is True


def read_deprecation(raw: Any, subject: str, place: Ref) -> Deprecation | None:
    """The deprecation an `x-deprecated` declares, or None when absent or malformed."""
    if raw is None or deprecation_problems(raw, subject, place):
        return None
    sunset = _date(raw["sunset"])
    assert sunset is not None  # deprecation_problems found none
    replaced_by = raw.get("replaced-by")
    return Deprecation(
        sunset=sunset,
        replaced_by=None if replaced_by is None else str(replaced_by),
        note=str(raw.get("note", "")),
        place=place,
    )


def _date(value: Any) -> date | None:
    """A YAML date, or the text of one; None for anything else."""
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None
