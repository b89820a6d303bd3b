"""Lint rules over one catalog: the registry `LINT`, and `run_lint` to apply it.

Each module of this package registers the rules of one concern (naming, operations,
payloads, the graph of senders and receivers) with `@LINT.rule(ID, *categories)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from codegen.rules import Registry

if TYPE_CHECKING:
    from codegen.errors import Finding
    from codegen.loader import Workspace
    from codegen.model import Catalog

__all__ = ["LINT", "LintFn"]

LintFn = Callable[["Workspace", "Catalog"], Iterator["Finding"]]
LINT: Registry[LintFn] = Registry("lint")
