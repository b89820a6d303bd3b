"""Breaking-change rules between two versions of the contracts: the registry `BREAKING`.

`channels` registers the channel, version and operation rules, `messages` the payload rules,
`envelope` the rules of what a message says beside its payload, `streams` the stream rules,
`rest` the REST rules; `compat` decides
whether a reader schema accepts all a writer schema allows; `command` is `codegen breaking`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from codegen.breaking import channels, envelope, messages, rest, streams
from codegen.breaking.base import BREAKING, BreakingFn, Contracts
from codegen.breaking.payloads import AGAINST
from codegen.errors import Finding

__all__ = ["BREAKING", "BreakingFn", "Contracts", "run_breaking"]

_MODULES = (channels, envelope, messages, rest, streams)  # each registers its rules


def run_breaking(
    previous: Contracts, current: Contracts, older: Sequence[Contracts] = ()
) -> list[Finding]:
    """Run every rule on by default against `previous`, then against each `older` version
    (the rules compare those only where a transitive mode asks); sorted, without repeats.

    One edit is one finding: what an older version shows again (the same sentence but for
    the version it names) is dropped, and one that only older versions show is kept once,
    from the newest of them. `current` carries the base's stream modes, so a mode weakened
    in this change still applies to it."""
    modes = tuple((s.name, s.compatibility) for s in previous.catalog.streams)
    current = replace(current, base_modes=modes)
    out: dict[tuple[str, str, str, str], Finding] = {}
    for rule in BREAKING.enabled():
        for before in (previous, *older):
            for found in rule.run(before, current):
                level = "WARN" if rule.level == "WARN" else found.level
                key = (rule.id, found.file, found.pointer, found.message.split(AGAINST)[0])
                kept = Finding(found.file, found.pointer, found.message, rule.id, level)
                out.setdefault(key, kept)
    return sorted(out.values())
