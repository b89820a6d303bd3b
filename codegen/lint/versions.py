"""Version rules: `x-replaces` and `x-deprecated` are well formed and point at each other,
a deprecated channel is gone by its sunset (judged on `codegen.versions.today()`), and a
stored-only one is off the bus with a newer version to upcast to."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from codegen.breaking.readers import listed, receivers
from codegen.errors import Finding
from codegen.lint.base import LINT
from codegen.lint.documents import documents
from codegen.loader import Ref, join_pointer
from codegen.versions import (
    DEPRECATED_KEY,
    REPLACES_KEY,
    STORED_ONLY_KEY,
    deprecation_problems,
    replaces_problems,
    today,
)

if TYPE_CHECKING:
    from codegen.loader import Workspace
    from codegen.model import Catalog, Channel

__all__ = ["stored_only", "sunset_near", "sunset_passed", "version_links"]

SUNSET_NEAR_DAYS = 30
"""A deprecated channel still received this close to its sunset is a warning."""


@LINT.rule("VERSION_LINKS", "versions")
def version_links(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Each version link is well formed, names a channel of its owner, and is answered."""
    # A channel that `x-replaces` an older one needs the older one beside it, deprecated and
    # `replaced-by` it; a deprecated channel's `replaced-by` needs that channel to replace it.
    for file, doc in documents(workspace):
        if not isinstance(doc, dict) or "asyncapi" not in doc:
            continue
        for key, node in (doc.get("channels") or {}).items():
            if not isinstance(node, dict) or "$ref" in node:
                continue
            subject = str(node.get("address", ""))
            pointer = join_pointer("/channels", key)
            if REPLACES_KEY in node:
                yield from replaces_problems(
                    node[REPLACES_KEY], subject, Ref(file, join_pointer(pointer, REPLACES_KEY))
                )
            if DEPRECATED_KEY in node:
                yield from deprecation_problems(
                    node[DEPRECATED_KEY], subject, Ref(file, join_pointer(pointer, DEPRECATED_KEY))
                )
    yield from _unanswered(catalog)


def _unanswered(catalog: Catalog) -> Iterator[Finding]:
    """Links whose other half is missing: both halves live in the owner's document."""
    by_subject = {c.subject: c for c in catalog.channels.values()}
    for channel in catalog.channels.values():
        if channel.replaces is not None:
            old = by_subject.get(channel.replaces)
            place = join_pointer(channel.place.pointer, REPLACES_KEY)
            if old is None:
                # The old version is gone: retired, which is the end of a migration.
                continue
            if old.owner != channel.owner:
                yield Finding(
                    channel.place.file,
                    place,
                    f"'{channel.replaces}' belongs to {old.owner}, not to {channel.owner}",
                )
            elif old.stored_only:
                continue  # retired from the bus, kept for the store: VERSION_STORED_ONLY
            elif old.deprecation is None or old.deprecation.replaced_by != channel.subject:
                yield Finding(
                    channel.place.file,
                    place,
                    f"'{channel.replaces}' is not deprecated with replaced-by '{channel.subject}'",
                )
        deprecation = channel.deprecation
        if deprecation is not None and deprecation.replaced_by is not None:
            newer = by_subject.get(deprecation.replaced_by)
            if newer is None or newer.owner != channel.owner or newer.replaces != channel.subject:
                yield Finding(
                    deprecation.place.file,
                    join_pointer(deprecation.place.pointer, "replaced-by"),
                    f"'{deprecation.replaced_by}' is not a channel of {channel.owner} "
                    f"that x-replaces '{channel.subject}'",
                )


@LINT.rule("VERSION_STORED_ONLY", "versions")
def stored_only(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """A stored-only channel (`x-stored-only: true`) is off the bus and upcast to a newer
    version: no operation sends or receives it, and a channel of its owner `x-replaces` it."""
    for file, doc in documents(workspace):
        if not isinstance(doc, dict) or "asyncapi" not in doc:
            continue
        for key, node in (doc.get("channels") or {}).items():
            if isinstance(node, dict) and node.get(STORED_ONLY_KEY, True) is not True:
                pointer = join_pointer("/channels", key, STORED_ONLY_KEY)
                yield Finding(file, pointer, f"{STORED_ONLY_KEY} is not true")
    for channel in sorted(catalog.channels.values(), key=lambda c: c.subject):
        if channel.stored_only:
            yield from _stored_only_problems(catalog, channel)


def _stored_only_problems(catalog: Catalog, channel: Channel) -> Iterator[Finding]:
    place = join_pointer(channel.place.pointer, STORED_ONLY_KEY)
    newer = [
        c
        for c in catalog.channels.values()
        if c.replaces == channel.subject and c.owner == channel.owner
    ]
    if not newer:
        yield Finding(
            channel.place.file,
            place,
            f"{channel.subject} is stored-only but no channel of {channel.owner} x-replaces it, "
            "so its stored events have no version to be upcast to",
        )
    if channel.deprecation is not None:
        yield Finding(
            channel.deprecation.place.file,
            channel.deprecation.place.pointer,
            f"{channel.subject} is stored-only, kept for good, so it has no x-deprecated sunset",
        )
    ops = [op for s in catalog.services.values() for op in s.sends + s.receives]
    for op in sorted(ops, key=lambda o: (o.service, o.key)):
        if op.channel.subject == channel.subject:
            yield Finding(
                op.place.file,
                op.place.pointer,
                f"{op.service} {op.action}s {channel.subject}, which is stored-only: retired "
                f"from the bus, no one sends or receives it",
            )


@LINT.rule("VERSION_SUNSET_PASSED", "versions")
def sunset_passed(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """A deprecated channel is retired by its sunset date: past it, the promise its
    `x-deprecated` made is broken; retire it, or move the sunset with a reason."""
    day = today()
    for channel in sorted(catalog.channels.values(), key=lambda c: c.subject):
        deprecation = channel.deprecation
        if deprecation is None or deprecation.sunset >= day:
            continue
        readers = receivers(catalog, channel.subject)
        still = (
            f"; {listed(readers)} still receive{'s' * (len(readers) == 1)} it" if readers else ""
        )
        yield Finding(
            deprecation.place.file,
            join_pointer(deprecation.place.pointer, "sunset"),
            f"{channel.subject} is past its sunset {deprecation.sunset.isoformat()} "
            f"(today is {day.isoformat()}){still}",
        )


@LINT.rule("VERSION_SUNSET_NEAR", "versions", level="WARN")
def sunset_near(_: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """A deprecated channel that services still receive within 30 days of its sunset is
    said, so they move to its successor before the sunset fails the lint."""
    day = today()
    for channel in sorted(catalog.channels.values(), key=lambda c: c.subject):
        deprecation = channel.deprecation
        readers = receivers(catalog, channel.subject)
        if deprecation is None or not readers:
            continue
        left = (deprecation.sunset - day).days
        if 0 <= left <= SUNSET_NEAR_DAYS:
            instead = deprecation.replaced_by or "its successor"
            yield Finding(
                deprecation.place.file,
                join_pointer(deprecation.place.pointer, "sunset"),
                f"{channel.subject} reaches its sunset in {left} day{'s' * (left != 1)} and "
                f"{listed(readers)} still receive{'s' * (len(readers) == 1)} it: move to {instead}",
            )
