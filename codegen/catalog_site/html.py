"""The catalog site's building blocks: who sends and receives each message, the template
environment, the page shell, tables and links (escaped once, here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from codegen.errors import CodegenError
from codegen.loader import Workspace
from codegen.model import Catalog, Channel, Operation, Stream

__all__ = ["NONE", "STREAM_HEADERS", "Flow", "Row", "Site", "code", "link", "prose"]

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "catalog"
NONE = Markup('<span class="none">none</span>')

Row = tuple[str, list[Any]]
"""A table row: its search key ('' for none) and its cells (text, numbers or Markup)."""


@dataclass(frozen=True, slots=True)
class Flow:
    """One message: its channel, stream, and the operations that send and receive it."""

    channel: Channel
    stream: Stream | None
    sends: tuple[Operation, ...]
    receives: tuple[Operation, ...]

    @property
    def name(self) -> str:
        """The message's name (with `V<n>` from version 2 on), also its page's name."""
        return self.channel.model_name

    @property
    def producers(self) -> list[str]:
        """The services that send it (its owner when no operation does)."""
        return sorted({op.service for op in self.sends}) or [self.channel.owner]

    @property
    def consumers(self) -> list[str]:
        """The services that receive it."""
        return sorted({op.service for op in self.receives})


def _flows(catalog: Catalog) -> dict[str, Flow]:
    ops = [op for s in catalog.services.values() for op in s.sends + s.receives]
    flows: dict[str, Flow] = {}
    for place, channel in sorted(catalog.channels.items()):
        name = channel.model_name
        if name in flows:
            raise CodegenError(f"message name {name} is carried by two channels: rename one")
        mine = sorted((op for op in ops if op.channel.place == place), key=lambda o: o.service)
        streams = catalog.stream_of(channel.subject)
        flows[name] = Flow(
            channel=channel,
            stream=streams[0] if streams else None,
            sends=tuple(op for op in mine if op.action == "send"),
            receives=tuple(op for op in mine if op.action == "receive"),
        )
    return dict(sorted(flows.items()))


def code(text: str) -> Markup:
    """Text in a `<code>` element."""
    return Markup("<code>{}</code>").format(text)


def link(href: str, text: str) -> Markup:
    """An `<a>` element with escaped attribute and text."""
    return Markup('<a href="{}">{}</a>').format(href, escape(text))


def prose(text: str) -> Markup:
    """Contract prose as paragraphs: blank lines split them, other line breaks are spaces."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]
    return Markup("\n").join(Markup("<p>{}</p>").format(p) for p in paragraphs)


class Site:
    """The catalog's flows, the template environment and the shared pieces of every page."""

    def __init__(self, workspace: Workspace, catalog: Catalog) -> None:
        self.workspace = workspace
        self.catalog = catalog
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=True,
        )
        self.flows = _flows(catalog)
        self.by_subject = {f.channel.subject: f for f in self.flows.values()}

    def render(self, template: str, **values: Any) -> Markup:
        """A template's output, marked safe to place in another one."""
        return Markup(self.env.get_template(template).render(**values))

    def page(self, title: str, body: Markup, *, depth: int, scripts: tuple[str, ...] = ()) -> str:
        """A whole HTML page `depth` folders below the site's root."""
        root = "../" * depth
        return str(self.render("page.html.j2", title=title, root=root, body=body, scripts=scripts))

    def table(self, id: str, headers: list[str], rows: list[Row]) -> Markup:
        """A table, or a muted 'None.' when there are no rows."""
        if not rows:
            return Markup('<p class="none">None.</p>')
        views = [{"key": key, "cells": cells} for key, cells in rows]
        return self.render("table.html.j2", id=id, headers=headers, rows=views)

    def message_link(self, name: str, root: str) -> Markup:
        """A link to a message's page."""
        return link(f"{root}messages/{name}.html", name)

    def service_links(self, names: list[str], root: str) -> Markup:
        """Links to services' pages, comma-separated, or a muted 'none'."""
        if not names:
            return NONE
        return Markup(", ").join(link(f"{root}services/{n}.html", n) for n in names)

    def stream_link(self, stream: Stream | None, root: str) -> Markup:
        """A link to a stream's row on the index page."""
        if stream is None:
            return NONE
        return link(f"{root}index.html#stream-{stream.name}", stream.name)

    def stream_row(self, stream: Stream, root: str, *, key: str = "") -> Row:
        """A stream's name (a link, or on the index the link's target) and its settings."""
        name = (
            Markup('<span id="stream-{0}">{0}</span>').format(stream.name)
            if not root and key
            else self.stream_link(stream, root)
        )
        subjects = Markup(" ").join(code(s) for s in stream.subjects)
        facts = [stream.retention, _duration(stream.max_age), stream.compatibility]
        return key, [name, subjects, *facts, stream.description]


STREAM_HEADERS = ["Stream", "Subjects", "Retention", "Max age", "Compatibility", "Description"]


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s" if seconds else "unlimited"
