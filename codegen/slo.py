"""Read an operation's `x-slo` (contracts/README.md "Service levels") into a `LatencyObjective`.

`x-slo: {percentile: 99, latency: 500ms}` says that 99 % of the operation's calls finish
within 500 ms. The build keeps a well-formed one; the lint rule `SLO_WELL_FORMED` names
what is wrong with any other.
"""

from __future__ import annotations

import re
from typing import Any

from codegen.errors import Finding
from codegen.loader import Ref, join_pointer
from codegen.model import LatencyObjective

__all__ = ["SLO_KEY", "read_slo", "slo_problems"]

SLO_KEY = "x-slo"
_MILLISECONDS = re.compile(r"^(\d+(?:\.\d+)?)ms$")
_KEYS = ("latency", "percentile")


def slo_problems(raw: Any, place: Ref) -> list[Finding]:
    """What is wrong with an `x-slo` written at `place` (empty when it is well formed)."""
    if not isinstance(raw, dict):
        return [Finding(place.file, place.pointer, "x-slo is not a mapping of percentile, latency")]
    out = [
        Finding(place.file, join_pointer(place.pointer, key), f"x-slo has no key '{key}'")
        for key in sorted(set(_KEYS) - raw.keys())
    ]
    out += [
        Finding(place.file, join_pointer(place.pointer, key), f"x-slo has an unknown key '{key}'")
        for key in sorted(raw.keys() - set(_KEYS), key=str)
    ]
    if "percentile" in raw and not _is_percentile(raw["percentile"]):
        out.append(
            Finding(
                place.file,
                join_pointer(place.pointer, "percentile"),
                f"percentile {raw['percentile']!r} is not a number between 0 and 100 exclusive",
            )
        )
    if "latency" in raw and _milliseconds(raw["latency"]) is None:
        out.append(
            Finding(
                place.file,
                join_pointer(place.pointer, "latency"),
                f"latency {raw['latency']!r} is not a duration above zero in ms, like 500ms",
            )
        )
    return out


def read_slo(raw: Any, place: Ref) -> LatencyObjective | None:
    """The objective an `x-slo` declares, or None when absent or malformed (lint reports it)."""
    if raw is None or slo_problems(raw, place):
        return None
    latency = _milliseconds(raw["latency"])
    assert latency is not None  # slo_problems found none
    return LatencyObjective(float(raw["percentile"]), latency / 1000.0, place)


def _is_percentile(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and 0 < value < 100


def _milliseconds(value: Any) -> float | None:
    """`500ms` -> 500.0; None for anything else, zero included."""
    match = _MILLISECONDS.match(value) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        return None
    return float(match.group(1))
