"""Lint rules over one catalog: the registry `LINT`, and `run_lint` to apply it.

Each module of this package registers the rules of one concern (the graph of senders and
streams, naming, docs, REST operations, payloads, suppression) with
`@LINT.rule(ID, *categories)`. Importing the package imports every module, so every rule is
registered. Findings below an object carrying `x-lint-ignore: [ID, ...]` are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from codegen.errors import CodegenError, Finding
from codegen.lint import (
    bounds,
    docs,
    graph,
    levels,
    naming,
    operations,
    payloads,
    suppress,
    versions,
)
from codegen.lint.base import LINT, LintFn

if TYPE_CHECKING:
    from codegen.loader import Workspace
    from codegen.model import Catalog

__all__ = ["LINT", "LintFn", "run_lint"]

# Each module registers its rules on import.
_MODULES = (bounds, docs, graph, levels, naming, operations, payloads, suppress, versions)


def run_lint(
    workspace: Workspace, catalog: Catalog, only: Iterable[str] | None = None
) -> list[Finding]:
    """Run the rules on by default (or exactly `only`); return their unsuppressed findings."""
    ids = None if only is None else frozenset(only)
    unknown = sorted((ids or frozenset()) - LINT.rules.keys())
    if unknown:
        raise CodegenError(f"unknown lint rule id(s): {', '.join(unknown)}")
    ignores = suppress.suppressions(workspace)
    out: set[Finding] = set()
    for rule in LINT.enabled(ids):
        for finding in rule.run(workspace, catalog):
            stamped = replace(finding, rule=rule.id, level=rule.level)
            if rule.id == suppress.UNKNOWN or not suppress.is_suppressed(stamped, ignores):
                out.add(stamped)
    return sorted(out)
