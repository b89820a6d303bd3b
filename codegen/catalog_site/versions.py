"""The catalog's versions page: every message with more than one major version, its versions
side by side (links, deprecation, sunset, stored only), and who sends and receives each one.

It shows what the contracts say; `a4co contracts status` adds the live pending counts of
each reader's durable and says whether an old version may be removed now.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from codegen.catalog_site.html import NONE, Row, Site, code
from codegen.migration import Version, versioned_messages

__all__ = ["versions_page"]

_HEADERS = ["Version", "Subject", "State", "Sunset", "Links", "Producers", "Consumers"]


def versions_page(site: Site) -> str:
    """The page: a section per versioned message, or a sentence when there is none."""
    messages = versioned_messages(site.catalog)
    sections = [
        site.render(
            "versions_message.html.j2",
            anchor=f"versions-{message.base}",
            name=message.name,
            base=message.base,
            table=site.table(
                f"versions-{message.base}-table",
                _HEADERS,
                [_row(site, v) for v in message.versions],
            ),
            notes=[_note(v) for v in message.versions[:-1]],
        )
        for message in messages
    ]
    body = site.render("versions.html.j2", count=len(messages), sections=sections)
    return site.page("Message versions", body, depth=0)


def _row(site: Site, version: Version) -> Row:
    flow = site.by_subject.get(version.subject)
    subject = code(version.subject)
    cells: list[Any] = [
        site.message_link(flow.name, "") if flow else f"v{version.major}",
        subject,
        version.state,
        version.sunset.isoformat() if version.sunset else "",
        _links(version),
        site.service_links(list(version.producers), "") if version.producers else NONE,
        _consumers(site, version),
    ]
    return "", cells


def _links(version: Version) -> Markup:
    parts = []
    if version.replaces:
        parts.append(Markup("replaces {}").format(code(version.replaces)))
    if version.replaced_by:
        parts.append(Markup("replaced by {}").format(code(version.replaced_by)))
    return Markup("; ").join(parts)


def _consumers(site: Site, version: Version) -> Markup:
    if not version.readers:
        return NONE
    return Markup(", ").join(
        Markup("{} ({})").format(site.service_links([r.service], ""), code(r.durable))
        for r in version.readers
    )


def _note(version: Version) -> str:
    """What the contracts say about removing an old version."""
    label = f"v{version.major} ({version.subject})"
    if version.state == "retired":
        return f"{label} is retired: no contract declares it any more."
    if version.state == "stored only":
        return f"{label} is stored only: retired from the bus; stored events are upcast on load."
    readers = sorted({r.service for r in version.readers})
    if readers:
        who = ", ".join(readers)
        return f"{label} is still received by {who}: they move to the next version first."
    if version.kept:
        return (
            f"{label} is received by no contract: once no durable has messages of it left, it "
            "stays as x-stored-only, since its owner keeps its events and reads them back."
        )
    return (
        f"{label} is received by no contract: it can be removed once no durable has "
        "messages of it left to handle (`a4co contracts status` tells)."
    )
