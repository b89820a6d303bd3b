"""Breaking-change rules between two versions of the contracts: the registry `BREAKING`.

`messages` registers the channel and payload rules, `streams` the stream rules, `rest` the
REST rules; `compat` decides
whether a reader schema accepts all a writer schema allows; `command` is `codegen breaking`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from codegen.breaking import messages, rest, streams
from codegen.breaking.base import BREAKING, BreakingFn, Contracts
from codegen.errors import Finding

__all__ = ["BREAKING", "BreakingFn", "Contracts", "run_breaking"]

_MODULES = (messages, rest, streams)  # each registers its rules


def run_breaking(
    previous: Contracts, current: Contracts, older: Sequence[Contracts] = ()
) -> list[Finding]:
    """Run every rule on by default against `previous`, then against each `older` version
    (the rules compare those only where a transitive mode asks); sorted, without repeats.

    `current` carries the base's stream modes, so a mode weakened in this change still
    applies to it."""
    modes = tuple((s.name, s.compatibility) for s in previous.catalog.streams)
    current = replace(current, base_modes=modes)
    out: set[Finding] = set()
    for rule in BREAKING.enabled():
        for before in (previous, *older):
            for found in rule.run(before, current):
                level = "WARN" if rule.level == "WARN" else found.level
                out.add(Finding(found.file, found.pointer, found.message, rule.id, level))
    return sorted(out)
