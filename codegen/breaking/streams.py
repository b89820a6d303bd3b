"""Breaking-change rules of the streams of `platform.yaml`."""

from __future__ import annotations

from collections.abc import Iterator

from codegen.breaking.base import BREAKING, Contracts
from codegen.breaking.modes import weaker
from codegen.errors import Finding
from codegen.loader import join_pointer

__all__: list[str] = []


@BREAKING.rule("STREAM_COMPATIBILITY_NO_WEAKEN", "stream", level="WARN")
def compatibility_no_weaken(previous: Contracts, current: Contracts) -> Iterator[Finding]:
    """A stream's compatibility mode is not weakened unseen: the change that weakens it is
    still checked under the previous mode, and only later changes get the weaker one."""
    if previous.depth:
        return
    before = {s.name: s.compatibility for s in previous.catalog.streams}
    for stream in current.catalog.streams:
        old = before.get(stream.name)
        if old is None or not weaker(stream.compatibility, old):
            continue
        yield Finding(
            stream.place.file,
            join_pointer(stream.place.pointer, "compatibility"),
            f"stream {stream.name}'s compatibility was weakened from {old} to"
            f" {stream.compatibility}: this change is still checked as {old} and later ones"
            f" as {stream.compatibility}, so subscribers that relied on {old} lose that"
            " protection from the next change",
            "STREAM_COMPATIBILITY_NO_WEAKEN",
        )
