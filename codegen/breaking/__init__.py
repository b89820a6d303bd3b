"""Breaking-change rules between two versions of the contracts: the registry `BREAKING`.

`messages` registers the channel and payload rules, `rest` the REST rules; `compat` decides
whether a reader schema accepts all a writer schema allows; `command` is `codegen breaking`.
"""

from __future__ import annotations

from collections.abc import Sequence

from codegen.breaking import messages, rest
from codegen.breaking.base import BREAKING, BreakingFn, Contracts
from codegen.errors import Finding

__all__ = ["BREAKING", "BreakingFn", "Contracts", "run_breaking"]

_MODULES = (messages, rest)  # each registers its rules


def run_breaking(
    previous: Contracts, current: Contracts, older: Sequence[Contracts] = ()
) -> list[Finding]:
    """Run every rule on by default against `previous`, then against each `older` version
    (the rules compare those only where a transitive mode asks); sorted, without repeats."""
    out: set[Finding] = set()
    for rule in BREAKING.enabled():
        for before in (previous, *older):
            for found in rule.run(before, current):
                level = "WARN" if rule.level == "WARN" else found.level
                out.add(Finding(found.file, found.pointer, found.message, rule.id, level))
    return sorted(out)
