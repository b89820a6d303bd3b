"""Service level rules: every `x-slo` is well formed and sits where an objective can be measured."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from codegen.errors import Finding
from codegen.lint.base import LINT
from codegen.lint.documents import documents
from codegen.loader import Ref, join_pointer
from codegen.slo import SLO_KEY, slo_problems

if TYPE_CHECKING:
    from codegen.loader import Workspace
    from codegen.model import Catalog

__all__ = ["slo_well_formed"]

_METHODS = ("get", "put", "post", "delete", "patch")


def _operations(doc: Any) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Each operation of a document: its pointer, the object, and whether it may hold `x-slo`.

    REST operations and AsyncAPI receive operations may (the HTTP and handler latency
    histograms measure them); a send operation may not, as nothing times a publish.
    """
    if not isinstance(doc, dict):
        return
    if "openapi" in doc:
        for path, item in (doc.get("paths") or {}).items():
            for method in _METHODS:
                if isinstance(item, dict) and isinstance(item.get(method), dict):
                    yield join_pointer("/paths", path, method), item[method], True
    elif "asyncapi" in doc:
        for key, op in (doc.get("operations") or {}).items():
            if isinstance(op, dict):
                yield join_pointer("/operations", key), op, op.get("action") == "receive"


@LINT.rule("SLO_WELL_FORMED", "slo")
def slo_well_formed(workspace: Workspace, _: Catalog) -> Iterator[Finding]:
    """An `x-slo` has a percentile in (0, 100) and a latency in ms, on a timed operation."""
    for file, doc in documents(workspace):
        for pointer, op, measured in _operations(doc):
            if SLO_KEY not in op:
                continue
            place = Ref(file, join_pointer(pointer, SLO_KEY))
            if not measured:
                yield Finding(file, place.pointer, "x-slo is on a send, which nothing times")
            yield from slo_problems(op[SLO_KEY], place)
