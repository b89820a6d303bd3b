"""The steps between major versions of a message, written to `generated/versions.py`.

For each channel that `x-replaces` a still-declared one, an upcast (old -> new), and, when
the owner sends both, a downcast (new -> old) for the copies it publishes during the
migration. A step is generated where the change is additive: the upcast when the new
version only adds optional fields (their defaults filled in) or enum values; the downcast
when the new version only adds optional fields (dropped). Any other step changes meaning
and is a hook: the owner writes it in `services/<owner>/versions.py`, and the service
fails to start, naming the subjects, until it does (`runtime.upcasting`).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codegen.bundle import Bundle
from codegen.naming import snake

if TYPE_CHECKING:
    from codegen.loader import Workspace
    from codegen.model import Catalog, Channel

__all__ = ["Step", "render_versions", "step_const", "version_steps"]

_PROSE = frozenset({"description", "title", "examples", "example", "$comment"})


@dataclass(frozen=True, slots=True)
class Step:
    """One step between adjacent versions, and how it is made."""

    source: Channel
    target: Channel
    body: str | None
    """The generated function's body, or None for a hook the owner writes."""
    why: str

    @property
    def name(self) -> str:
        """`session_revoked_v1_to_v2`."""
        return f"{snake(self.source.base_name)}_v{self.source.major}_to_v{self.target.major}"


def step_const(source: Channel, target: Channel) -> str:
    """The generated constant of the step from `source` to `target`."""
    return f"{snake(source.base_name)}_v{source.major}_to_v{target.major}".upper()


def version_steps(workspace: Workspace, catalog: Catalog) -> list[Step]:
    """Every step of the catalog, by source subject then target."""
    by_subject = {c.subject: c for c in catalog.channels.values()}
    sent = {op.channel.subject for s in catalog.services.values() for op in s.sends}
    steps = []
    for new in sorted(catalog.channels.values(), key=lambda c: c.subject):
        old = by_subject.get(new.replaces or "")
        if old is None or old.owner != new.owner:
            continue
        before, after = _payloads(workspace, old, new)
        steps.append(_upcast(old, new, before, after))
        if old.subject in sent and new.subject in sent:
            steps.append(_downcast(new, old, after, before))
    return sorted(steps, key=lambda s: (s.source.subject, s.target.subject))


def _payloads(
    workspace: Workspace, old: Channel, new: Channel
) -> tuple[dict[str, Any], dict[str, Any]]:
    bundle = Bundle(workspace)
    before = bundle.add(old.message.payload, old.model_name)
    after = bundle.add(new.message.payload, new.model_name)
    return bundle.defs[before], bundle.defs[after]


def _plain(node: Any) -> Any:
    """A schema without its prose, to compare what it accepts."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items() if k not in _PROSE}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _gained_values(old: Any, new: Any) -> list[Any] | None:
    """The enum values `new` adds to `old` when that is their only difference, else None."""
    old, new = _plain(old), _plain(new)
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return None
    if "enum" not in old or "enum" not in new or not set(old["enum"]) <= set(new["enum"]):
        return None
    rest = {k: v for k, v in old.items() if k != "enum"}
    if rest != {k: v for k, v in new.items() if k != "enum"}:
        return None
    return [v for v in new["enum"] if v not in old["enum"]]


def _upcast(old: Channel, new: Channel, before: dict[str, Any], after: dict[str, Any]) -> Step:
    """Generated when every old field reads the same in the new version (or gained enum
    values) and every field the new one adds is optional."""
    old_props, new_props = before.get("properties", {}), after.get("properties", {})
    if not set(after.get("required", [])) <= set(before.get("required", [])):
        return Step(old, new, None, "the new version requires a field the old one may lack")
    gained = []
    for name, schema in sorted(old_props.items()):
        if name not in new_props:
            return Step(old, new, None, f"the new version drops {name}")
        if _plain(schema) == _plain(new_props[name]):
            continue
        values = _gained_values(schema, new_props[name])
        if values is None:
            return Step(old, new, None, f"{name} changes its type or meaning")
        gained.append(f"{name} gains {', '.join(map(str, values))}")
    added = sorted(set(new_props) - set(old_props))
    defaults = {n: new_props[n]["default"] for n in added if "default" in new_props[n]}
    body = (
        f"return {{{', '.join(f'{k!r}: {v!r}' for k, v in defaults.items())}, **payload}}"
        if defaults
        else "return dict(payload)"
    )
    changes = gained + [f"adds optional {n}" for n in added]
    return Step(old, new, body, "; ".join(changes) or "no change to the payload")


def _downcast(new: Channel, old: Channel, after: dict[str, Any], before: dict[str, Any]) -> Step:
    """Generated when the new version only adds optional fields, which the copy drops."""
    old_props, new_props = before.get("properties", {}), after.get("properties", {})
    if not set(before.get("required", [])) <= set(after.get("required", [])):
        return Step(new, old, None, "the old version requires a field the new one may lack")
    for name, schema in sorted(old_props.items()):
        if name not in new_props or _plain(schema) != _plain(new_props[name]):
            return Step(new, old, None, f"{name} holds values the old version has no word for")
    added = sorted(set(new_props) - set(old_props))
    if not added:
        return Step(new, old, "return dict(payload)", "no change to the payload")
    kept = ", ".join(repr(n) for n in sorted(old_props))
    body = f"return {{k: v for k, v in payload.items() if k in {{{kept}}}}}"
    return Step(new, old, body, f"drops {', '.join(added)}")


def render_versions(header: str, steps: list[Step]) -> dict[str, str]:
    """`versions.py`: one `VersionStep` per step, and a Protocol per owner of hooks."""
    functions: list[str] = []
    consts: list[str] = []
    hooks: dict[str, list[tuple[str, str]]] = {}
    for step in steps:
        const = step_const(step.source, step.target)
        summary = f"{step.source.subject} -> {step.target.subject}: {step.why}."
        if step.body is not None:
            functions.append(
                f"\n\ndef _{step.name}(payload: dict[str, Any]) -> dict[str, Any]:\n"
                f"    {_docstring(summary, '    ')}\n"
                f"    {step.body}\n"
            )
            how = f"convert=_{step.name}"
        else:
            owner = step.source.owner
            hooks.setdefault(owner, []).append((step.name, summary))
            how = f'hook="services.{owner}.versions:{step.name}"'
        consts.append(
            f"{const} = VersionStep(\n"
            f"    source={step.source.subject!r},\n"
            f"    target={step.target.subject!r},\n"
            f"    {how},\n"
            ")\n"
            f"{_docstring(summary, '')}\n"
        )
    protocols = []
    for owner in sorted(hooks):
        methods = "".join(
            f"\n    def {name}(self, payload: dict[str, Any]) -> dict[str, Any]:\n"
            f"        {_docstring(summary, '        ')}\n        ...\n"
            for name, summary in hooks[owner]
        )
        protocols.append(
            f"\n\nclass {owner.capitalize()}Versions(Protocol):\n"
            f'    """What `services/{owner}/versions.py` defines: the steps only {owner} can'
            f' write."""\n{methods}'
        )
    names = sorted(
        [step_const(s.source, s.target) for s in steps]
        + [f"{o.capitalize()}Versions" for o in hooks]
        + ["STEPS"]
    )
    typing = "Any, Protocol" if hooks else "Any"
    all_steps = "".join(f"    {step_const(s.source, s.target)},\n" for s in steps)
    source = (
        f"{header}\n"
        '"""Steps between the major versions of messages that live side by side.\n\n'
        "An upcast reads a payload of one version as the next; a downcast makes the copy an\n"
        "owner publishes on the previous version during a migration. Additive steps are\n"
        "written here; the others are hooks each owner writes in `services/<owner>/versions.py`.\n"
        '"""\n\n'
        "from __future__ import annotations\n\n"
        f"from typing import {typing}\n\n"
        "from runtime.upcasting import VersionStep\n\n"
        f"__all__ = [{', '.join(repr(n) for n in names)}]\n"
        f"{''.join(functions)}{''.join(protocols)}\n\n"
        f"{''.join(consts)}\n"
        f"STEPS: tuple[VersionStep, ...] = ({'' if not steps else chr(10)}{all_steps})\n"
        '"""Every step, by source subject: what a service loading stored events upcasts with."""\n'
    )
    return {"versions.py": source}


def _docstring(text: str, indent: str) -> str:
    """A docstring literal of `text`, its lines wrapped to fit at `indent`."""
    lines = textwrap.wrap(text, 84 - len(indent))
    if len(lines) == 1:
        return f'"""{text}"""'
    body = "".join(f"{indent}{line}\n" for line in lines[1:])
    return f'"""{lines[0]}\n{body}{indent}"""'
