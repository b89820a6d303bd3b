"""Rules as data (STYLE "Rules are data"): the shape shared by lint and breaking-change rules.

A `Rule` has a stable UPPER_SNAKE id, categories, an on-by-default flag, a level and a
purpose (its function's docstring). A `Registry` holds the rules of one kind and is what
`make lint-rules` and the documentation print from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

__all__ = ["Level", "Registry", "Rule"]

Level = Literal["ERR", "WARN"]
Fn = TypeVar("Fn", bound=Callable[..., object])


@dataclass(frozen=True, slots=True)
class Rule(Generic[Fn]):
    """One registered rule: its id, categories, default, level, purpose and function."""

    id: str
    categories: tuple[str, ...]
    default: bool
    level: Level
    purpose: str
    run: Fn


@dataclass(slots=True)
class Registry(Generic[Fn]):
    """Rules of one kind, by id, in registration order."""

    kind: str
    rules: dict[str, Rule[Fn]] = field(default_factory=dict)

    def rule(
        self,
        rule_id: str,
        *categories: str,
        default: bool = True,
        level: Level = "ERR",
    ) -> Callable[[Fn], Fn]:
        """Register the decorated function as rule `rule_id`; its docstring is the purpose."""

        def register(fn: Fn) -> Fn:
            if rule_id in self.rules:
                raise ValueError(f"{self.kind} rule {rule_id} is registered twice")
            purpose = " ".join((fn.__doc__ or "").split())
            self.rules[rule_id] = Rule(rule_id, categories, default, level, purpose, fn)
            return fn

        return register

    def enabled(self, only: frozenset[str] | None = None) -> Iterator[Rule[Fn]]:
        """The rules to run: `only` when given, else those on by default."""
        for rule in self.rules.values():
            if (rule.id in only) if only is not None else rule.default:
                yield rule

    def table(self) -> str:
        """The registry as a text table: id, level, default, categories, purpose."""
        rows = [f"{'id':<36} {'level':<5} {'on':<3} {'categories':<22} purpose"]
        rows += [
            f"{r.id:<36} {r.level:<5} {'on' if r.default else 'off':<3} "
            f"{','.join(r.categories):<22} {r.purpose}"
            for r in self.rules.values()
        ]
        return "\n".join(rows)
