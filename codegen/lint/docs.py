"""Documentation rules: examples, summaries and descriptions that generated code and docs use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from codegen.errors import Finding
from codegen.lint.base import LINT
from codegen.lint.documents import documents, rest_operations, schemas
from codegen.loader import Ref, join_pointer

if TYPE_CHECKING:
    from codegen.loader import Workspace
    from codegen.model import Catalog

__all__ = ["examples_present", "message_description", "operation_summary", "property_description"]


def _messages(workspace: Workspace) -> Iterator[tuple[Ref, dict[str, Any]]]:
    """Every message defined under an AsyncAPI document's `components/messages`."""
    for file, doc in documents(workspace):
        if isinstance(doc, dict) and "asyncapi" in doc:
            for key, msg in ((doc.get("components") or {}).get("messages") or {}).items():
                if isinstance(msg, dict) and "$ref" not in msg:
                    yield Ref(file, join_pointer("/components/messages", key)), msg


def _bodies(workspace: Workspace, catalog: Catalog) -> Iterator[tuple[Ref, str, dict[str, Any]]]:
    """Every media type object of every request and response body, once per place written."""
    seen: set[Ref] = set()
    for endpoint, op in rest_operations(workspace, catalog):
        here = endpoint.place
        parts: list[tuple[str, ...]] = [("requestBody",)] if "requestBody" in op else []
        parts += [("responses", str(status)) for status in op.get("responses") or {}]
        for tokens in parts:
            place, node = workspace.resolve(Ref(here.file, join_pointer(here.pointer, *tokens)))
            for ctype, media in (
                (node.get("content") or {}) if isinstance(node, dict) else {}
            ).items():
                at = Ref(place.file, join_pointer(place.pointer, "content", ctype))
                if at not in seen and isinstance(media, dict):
                    seen.add(at)
                    yield at, endpoint.operation_id or endpoint.path, media


@LINT.rule("EXAMPLE_PRESENT", "docs", "examples")
def examples_present(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every message and every request and response body has at least one example."""
    for place, msg in _messages(workspace):
        if not msg.get("examples"):
            yield Finding(
                place.file, place.pointer, f"message {msg.get('name', place.name)} has no example"
            )
    for at, operation, media in _bodies(workspace, catalog):
        if not media.get("examples") and "example" not in media:
            yield Finding(at.file, at.pointer, f"a body of {operation} has no example")


@LINT.rule("OPERATION_SUMMARY", "docs")
def operation_summary(workspace: Workspace, catalog: Catalog) -> Iterator[Finding]:
    """Every REST and AsyncAPI operation has a summary (it becomes the handler's docstring)."""
    for endpoint, op in rest_operations(workspace, catalog):
        if not str(op.get("summary") or "").strip():
            yield Finding(
                endpoint.place.file,
                endpoint.place.pointer,
                f"{endpoint.method} {endpoint.path} has no summary",
            )
    for file, doc in documents(workspace):
        if isinstance(doc, dict) and "asyncapi" in doc:
            for key, op in (doc.get("operations") or {}).items():
                if isinstance(op, dict) and not str(op.get("summary") or "").strip():
                    yield Finding(
                        file, join_pointer("/operations", key), f"operation {key} has no summary"
                    )


@LINT.rule("MESSAGE_DESCRIPTION", "docs")
def message_description(workspace: Workspace, _: Catalog) -> Iterator[Finding]:
    """Every message has a summary or a description."""
    for place, msg in _messages(workspace):
        if not any(str(msg.get(key) or "").strip() for key in ("summary", "description")):
            yield Finding(
                place.file,
                place.pointer,
                f"message {msg.get('name', place.name)} has neither summary nor description",
            )


@LINT.rule("PROPERTY_DESCRIPTION", "docs", "payload")
def property_description(workspace: Workspace, _: Catalog) -> Iterator[Finding]:
    """Every schema property has a description, unless it is a `$ref` to a described schema."""
    for file, pointer, schema in schemas(workspace):
        for name, prop in (schema.get("properties") or {}).items():
            if (
                isinstance(prop, dict)
                and "$ref" not in prop
                and not str(prop.get("description") or "").strip()
            ):
                yield Finding(
                    file,
                    join_pointer(pointer, "properties", name),
                    f"property {name} has no description",
                )
