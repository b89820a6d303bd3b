"""The breaking-change registry and what its rules compare: two versions of the contracts.

A rule is a pure function from (previous, current) `Contracts` to findings. `previous.depth`
is 0 for the base being compared and grows for older versions met by transitive modes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codegen.rules import Registry

if TYPE_CHECKING:
    from codegen.errors import Finding
    from codegen.loader import Workspace
    from codegen.model import Catalog

__all__ = ["BREAKING", "BreakingFn", "Contracts"]


@dataclass(frozen=True, slots=True)
class Contracts:
    """One version of the contracts: its documents, its catalog, and how old it is."""

    workspace: Workspace
    catalog: Catalog
    label: str = "working tree"
    depth: int = 0
    base_modes: tuple[tuple[str, str], ...] = ()
    """On the current side: (stream, mode) of the base it is compared with. A mode this
    change weakens still applies to the change itself (`modes.applied_mode`)."""


BreakingFn = Callable[[Contracts, Contracts], Iterator["Finding"]]
BREAKING: Registry[BreakingFn] = Registry("breaking")
