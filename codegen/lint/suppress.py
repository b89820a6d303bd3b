"""Inline suppression: `x-lint-ignore` on any contract object silences rules below it.

The value is a list of rule ids, or a mapping of rule id to the reason it is ignored. It
covers findings in the same file whose pointer is at or below the object carrying it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codegen.errors import Finding
from codegen.lint.base import LINT
from codegen.lint.documents import documents
from codegen.loader import join_pointer

if TYPE_CHECKING:
    from codegen.loader import Workspace
    from codegen.model import Catalog

__all__ = ["KEY", "UNKNOWN", "Suppression", "is_suppressed", "suppressions"]

KEY = "x-lint-ignore"
UNKNOWN = "LINT_IGNORE_UNKNOWN"
_VALUES = frozenset({"examples", "example", "default", "enum", "const"})


@dataclass(frozen=True, slots=True)
class Suppression:
    """Rule ids ignored at and below one object of one file."""

    file: str
    pointer: str
    ids: tuple[str, ...]
    well_formed: bool


def _ids(value: Any) -> tuple[tuple[str, ...], bool]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value), True
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return tuple(value), True
    return (), False


def _walk(file: str, pointer: str, node: Any) -> Iterator[Suppression]:
    if isinstance(node, dict):
        if KEY in node:
            ids, ok = _ids(node[KEY])
            yield Suppression(file, pointer, ids, ok)
        for key, value in node.items():
            if key not in _VALUES and key != KEY:
                yield from _walk(file, join_pointer(pointer, key), value)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(file, join_pointer(pointer, i), value)


def suppressions(workspace: Workspace) -> list[Suppression]:
    """Every `x-lint-ignore` written in the contracts."""
    return [s for file, doc in documents(workspace) for s in _walk(file, "", doc)]


def is_suppressed(finding: Finding, ignores: list[Suppression]) -> bool:
    """Whether an `x-lint-ignore` at or above the finding's place names its rule."""
    return any(
        s.file == finding.file
        and finding.rule in s.ids
        and (finding.pointer == s.pointer or finding.pointer.startswith(s.pointer + "/"))
        for s in ignores
    )


@LINT.rule(UNKNOWN, "lint")
def unknown_ids(workspace: Workspace, _: Catalog) -> Iterator[Finding]:
    """Every id in an `x-lint-ignore` names a registered lint rule."""
    for s in suppressions(workspace):
        where = join_pointer(s.pointer, KEY)
        if not s.well_formed:
            yield Finding(
                s.file, where, f"{KEY} is neither a list of rule ids nor a mapping id -> reason"
            )
        for rule_id in s.ids:
            if rule_id not in LINT.rules:
                yield Finding(s.file, where, f"{KEY} names {rule_id}, which is no lint rule")
