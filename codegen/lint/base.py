"""The lint registry: every lint rule registers here with its id, categories and level."""

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
