"""Shared by the payload rules: compare two schemas in the directions that apply and sort
each issue to the one rule that reports it, with a past-tense sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from codegen.breaking.compat import Issue, Schema, compare
from codegen.errors import Finding

if TYPE_CHECKING:
    from codegen.breaking.base import Contracts
    from codegen.breaking.modes import Direction
    from codegen.loader import Ref

__all__ = ["AGAINST", "compared", "field_name", "finding", "unique"]

AGAINST = " (compared with the contract at "
"""How a finding from an older version (a transitive mode) names it, at its end."""


def compared(
    previous: Contracts,
    old: Ref,
    current: Contracts,
    new: Ref,
    direction: Direction,
    *,
    tolerant: bool = False,
) -> list[Issue]:
    """Issues of `direction`: backward reads the old writer with the new reader; forward the
    new writer with the old reader (`tolerant`: one that ignores undeclared fields)."""
    before, after = Schema(previous.workspace, old), Schema(current.workspace, new)
    if direction == "backward":
        return compare(before, after, tolerant=tolerant)
    return compare(after, before, tolerant=tolerant)


def finding(
    rule: str,
    issue: Issue,
    direction: Direction,
    *,
    subject: str,
    change: str,
    consequence: str,
    previous: Contracts,
) -> Finding:
    """One finding placed in the current contracts, in one sentence."""
    place = issue.reader if direction == "backward" else issue.writer
    against = f"{AGAINST}{previous.label})" if previous.depth else ""
    if issue.kind == "undecidable":
        text = f"{subject}: {change}, and compatibility could not be decided ({issue.reason})"
    else:
        text = f"{subject}: {change}, so {consequence} ({issue.reason})"
    text += against
    return Finding(place.file, place.pointer, text, rule, issue.level)


def field_name(issue: Issue) -> str:
    """How a sentence names the field of an issue."""
    return f"field {issue.field}" if issue.field else "the payload"


def unique(issues: list[Issue]) -> Iterator[Issue]:
    """One issue per field and kind: the same change seen from both directions is one change."""
    seen: set[tuple[str, str]] = set()
    for issue in issues:
        if (issue.field, issue.kind) not in seen:
            seen.add((issue.field, issue.kind))
            yield issue
