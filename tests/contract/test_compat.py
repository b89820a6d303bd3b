"""Directional schema compatibility, one keyword at a time: the writer's instances must all
be accepted by the reader; what cannot be decided is a WARN, never a silent pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from codegen.breaking.compat import Issue, Schema, compare
from codegen.loader import Ref, Workspace


def issues(
    tmp_path: Path, writer: Any, reader: Any, *, tolerant: bool = False, **files: Any
) -> list[Issue]:
    """Compare `writer` with `reader`, written into one document (plus any other `files`)."""
    root = tmp_path / "contracts"
    root.mkdir(exist_ok=True)
    (root / "s.yaml").write_text(yaml.safe_dump({"writer": writer, "reader": reader}))
    for name, doc in files.items():
        (root / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    ws = Workspace(root)
    return compare(
        Schema(ws, Ref("contracts/s.yaml", "/writer")),
        Schema(ws, Ref("contracts/s.yaml", "/reader")),
        tolerant=tolerant,
    )


def kinds(found: list[Issue]) -> list[tuple[str, str]]:
    return sorted({(i.kind, i.level) for i in found})


ERR_TYPE = [("type", "ERR")]
ERR_ENUM = [("enum", "ERR")]
ERR_CONSTRAINT = [("constraint", "ERR")]
WARN = [("undecidable", "WARN")]

CASES = {
    "same type": ({"type": "string"}, {"type": "string"}, []),
    "integer is a number": ({"type": "integer"}, {"type": "number"}, []),
    "number is not an integer": ({"type": "number"}, {"type": "integer"}, ERR_TYPE),
    "type changed": ({"type": "integer"}, {"type": "string"}, ERR_TYPE),
    "untyped writer, typed reader": ({}, {"type": "string"}, ERR_TYPE),
    "anything reads everything": ({"type": "object"}, {"description": "free"}, []),
    "nullable writer, non-null reader": (
        {"type": ["string", "null"]},
        {"type": "string"},
        ERR_TYPE,
    ),
    "non-null writer, nullable reader": ({"type": "string"}, {"type": ["string", "null"]}, []),
    "anyOf null reader": (
        {"type": "string"},
        {"anyOf": [{"type": "string"}, {"type": "null"}]},
        [],
    ),
    "anyOf null writer": (
        {"anyOf": [{"type": "string"}, {"type": "null"}]},
        {"type": "string"},
        ERR_TYPE,
    ),
    "anyOf branch narrowed": (
        {"type": "string"},
        {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]},
        ERR_CONSTRAINT,
    ),
    "anyOf needing two branches": (
        {"type": "integer"},
        {"anyOf": [{"type": "integer", "maximum": 5}, {"type": "integer", "minimum": 6}]},
        WARN,
    ),
    "oneOf with overlapping branches": (
        {"type": "integer"},
        {"oneOf": [{"type": "integer"}, {"type": "number"}]},
        WARN,
    ),
    "enum value removed": ({"enum": ["a", "b"]}, {"enum": ["a"]}, ERR_ENUM),
    "enum value added": ({"enum": ["a"]}, {"enum": ["a", "b"]}, []),
    "enum on a free field": ({"type": "string"}, {"type": "string", "enum": ["a"]}, ERR_ENUM),
    "const kept": ({"const": "EUR"}, {"type": "string", "enum": ["EUR", "USD"]}, []),
    "const changed": ({"const": "EUR"}, {"const": "USD"}, ERR_ENUM),
    "enum values against reader bounds": (
        {"enum": ["abcd"]},
        {"type": "string", "maxLength": 3},
        ERR_CONSTRAINT,
    ),
    "minLength raised": ({"type": "string"}, {"type": "string", "minLength": 1}, ERR_CONSTRAINT),
    "maxLength lowered": (
        {"type": "string", "maxLength": 9},
        {"type": "string", "maxLength": 5},
        ERR_CONSTRAINT,
    ),
    "maxLength raised": (
        {"type": "string", "maxLength": 5},
        {"type": "string", "maxLength": 9},
        [],
    ),
    "pattern added": ({"type": "string"}, {"type": "string", "pattern": "^a$"}, ERR_CONSTRAINT),
    "pattern changed": (
        {"type": "string", "pattern": "^a$"},
        {"type": "string", "pattern": "^b$"},
        WARN,
    ),
    "pattern same": (
        {"type": "string", "pattern": "^a$"},
        {"type": "string", "pattern": "^a$"},
        [],
    ),
    "format added": ({"type": "string"}, {"type": "string", "format": "uuid"}, ERR_CONSTRAINT),
    "format dropped": ({"type": "string", "format": "uuid"}, {"type": "string"}, []),
    "minimum raised": (
        {"type": "integer", "minimum": 0},
        {"type": "integer", "minimum": 1},
        ERR_CONSTRAINT,
    ),
    "maximum lowered": (
        {"type": "number", "maximum": 10},
        {"type": "number", "maximum": 5},
        ERR_CONSTRAINT,
    ),
    "maximum added": ({"type": "number"}, {"type": "number", "maximum": 5}, ERR_CONSTRAINT),
    "bounds relaxed": ({"type": "number", "minimum": 1, "maximum": 5}, {"type": "number"}, []),
    "exclusive minimum equals inclusive for integers": (
        {"type": "integer", "minimum": 1},
        {"type": "integer", "exclusiveMinimum": 0},
        [],
    ),
    "exclusive minimum is tighter for numbers": (
        {"type": "number", "minimum": 0},
        {"type": "number", "exclusiveMinimum": 0},
        ERR_CONSTRAINT,
    ),
    "exclusive maximum loosened": (
        {"type": "number", "exclusiveMaximum": 5},
        {"type": "number", "maximum": 5},
        [],
    ),
    "multipleOf kept by a multiple": (
        {"type": "integer", "multipleOf": 10},
        {"type": "integer", "multipleOf": 5},
        [],
    ),
    "multipleOf added": ({"type": "integer"}, {"type": "integer", "multipleOf": 5}, ERR_CONSTRAINT),
    "multipleOf 1 on integers": ({"type": "integer"}, {"type": "integer", "multipleOf": 1}, []),
    "items narrowed": (
        {"type": "array", "items": {"type": "number"}},
        {"type": "array", "items": {"type": "integer"}},
        ERR_TYPE,
    ),
    "minItems raised": ({"type": "array"}, {"type": "array", "minItems": 1}, ERR_CONSTRAINT),
    "maxItems lowered": (
        {"type": "array", "maxItems": 50},
        {"type": "array", "maxItems": 10},
        ERR_CONSTRAINT,
    ),
    "uniqueItems added": (
        {"type": "array"},
        {"type": "array", "uniqueItems": True},
        ERR_CONSTRAINT,
    ),
    "not is not decided": ({"type": "string"}, {"type": "string", "not": {"const": "x"}}, WARN),
    # Every integer of the platform is an int64: saying so narrows nothing, int32 does.
    "int64 format on an unbounded integer": (
        {"type": "integer", "minimum": 0},
        {"type": "integer", "format": "int64", "minimum": 0},
        [],
    ),
    "int32 format on an unbounded integer": (
        {"type": "integer"},
        {"type": "integer", "format": "int32"},
        ERR_CONSTRAINT,
    ),
    "int32 format widened to int64": (
        {"type": "integer", "format": "int32"},
        {"type": "integer", "format": "int64"},
        [],
    ),
    "int64 format against a lower maximum": (
        {"type": "integer", "format": "int64"},
        {"type": "integer", "maximum": 100},
        ERR_CONSTRAINT,
    ),
    "an integer above int64 is no integer of the platform": (
        {"type": "integer"},
        {"type": "integer", "maximum": 2**70},
        [],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_keyword(tmp_path: Path, name: str) -> None:
    writer, reader, expected = CASES[name]
    assert kinds(issues(tmp_path, writer, reader)) == expected


def obj(props: dict[str, Any], required: list[str], closed: Any = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    if closed is not None:
        out["additionalProperties"] = closed
    return out


S = {"type": "string"}


def test_field_removed_from_a_closed_reader_is_unknown(tmp_path: Path) -> None:
    found = issues(tmp_path, obj({"a": S, "b": S}, ["a"]), obj({"a": S}, ["a"]))
    assert [(i.kind, i.field) for i in found] == [("field-unknown", "b")]


def test_field_added_as_optional_is_compatible_backward(tmp_path: Path) -> None:
    assert issues(tmp_path, obj({"a": S}, ["a"]), obj({"a": S, "b": S}, ["a"])) == []


def test_required_field_added_is_missing(tmp_path: Path) -> None:
    found = issues(tmp_path, obj({"a": S}, ["a"]), obj({"a": S, "b": S}, ["a", "b"]))
    assert [(i.kind, i.field) for i in found] == [("field-missing", "b")]


def test_optional_field_made_required(tmp_path: Path) -> None:
    found = issues(tmp_path, obj({"a": S, "b": S}, ["a"]), obj({"a": S, "b": S}, ["a", "b"]))
    assert [(i.kind, i.field) for i in found] == [("field-optional", "b")]


def test_open_reader_ignores_unknown_fields(tmp_path: Path) -> None:
    assert issues(tmp_path, obj({"a": S, "b": S}, ["a"]), obj({"a": S}, ["a"], closed=None)) == []


def test_additional_properties_schema_reads_extra_fields(tmp_path: Path) -> None:
    reader = obj({"a": S}, ["a"], closed={"type": "integer"})
    found = issues(tmp_path, obj({"a": S, "b": S}, ["a"]), reader)
    assert [(i.kind, i.field) for i in found] == [("type", "b")]


def test_open_writer_against_closed_reader(tmp_path: Path) -> None:
    found = issues(tmp_path, obj({"a": S}, ["a"], closed=True), obj({"a": S}, ["a"]))
    assert kinds(found) == [("field-unknown", "ERR")]


def test_a_tolerant_reader_ignores_a_field_it_does_not_declare(tmp_path: Path) -> None:
    removed = issues(tmp_path, obj({"a": S, "b": S}, ["a"]), obj({"a": S}, ["a"]), tolerant=True)
    added = issues(tmp_path, obj({"a": S, "b": S}, []), obj({"a": S}, []), tolerant=True)
    assert removed == [] and added == []


def test_a_tolerant_reader_still_requires_what_it_requires(tmp_path: Path) -> None:
    found = issues(tmp_path, obj({"b": S}, ["b"]), obj({"a": S}, ["a"]), tolerant=True)
    assert [(i.kind, i.field) for i in found] == [("field-missing", "a")]


def test_a_tolerant_reader_still_reads_extra_fields_with_its_additional_properties(
    tmp_path: Path,
) -> None:
    reader = obj({"a": S}, ["a"], closed={"type": "integer"})
    found = issues(tmp_path, obj({"a": S, "b": S}, ["a"]), reader, tolerant=True)
    assert [(i.kind, i.field) for i in found] == [("type", "b")]


def test_an_open_writer_against_a_tolerant_reader_is_judged_on_the_readers_fields(
    tmp_path: Path,
) -> None:
    writer = obj({"a": S}, [], closed=True)
    same = issues(tmp_path, writer, obj({"a": S}, []), tolerant=True)
    more = issues(tmp_path, writer, obj({"a": S, "b": S}, []), tolerant=True)
    assert same == []
    assert [(i.kind, i.field) for i in more] == [("type", "b")]


def test_open_writer_may_already_send_a_new_field(tmp_path: Path) -> None:
    found = issues(tmp_path, obj({"a": S}, ["a"], closed=None), obj({"a": S, "b": S}, ["a"], None))
    assert kinds(found) == WARN


def test_nested_objects_name_the_field_path(tmp_path: Path) -> None:
    writer = obj({"line": {"type": "array", "items": obj({"n": {"type": "number"}}, ["n"])}}, [])
    reader = obj({"line": {"type": "array", "items": obj({"n": {"type": "integer"}}, ["n"])}}, [])
    found = issues(tmp_path, writer, reader)
    assert [(i.kind, i.field) for i in found] == [("type", "line[].n")]
    assert found[0].reader.pointer == "/reader/properties/line/items/properties/n"


def test_refs_are_followed_across_files(tmp_path: Path) -> None:
    common = {"Money": obj({"amount_minor": {"type": "integer"}}, ["amount_minor"])}
    reader = {"$ref": "common.yaml#/Money"}
    writer = obj({"amount_minor": {"type": "number"}}, ["amount_minor"])
    found = issues(tmp_path, writer, reader, common=common)
    assert [(i.kind, i.reader.file, i.reader.pointer) for i in found] == [
        ("type", "contracts/common.yaml", "/Money/properties/amount_minor")
    ]


def test_recursive_schemas_terminate(tmp_path: Path) -> None:
    node = {
        "type": "object",
        "properties": {"children": {"type": "array", "items": {"$ref": "#/writer"}}},
    }
    reader = {
        "type": "object",
        "properties": {"children": {"type": "array", "items": {"$ref": "#/reader"}}},
    }
    assert issues(tmp_path, node, reader) == []


def test_recursive_schemas_still_report_a_difference(tmp_path: Path) -> None:
    writer = {
        "type": "object",
        "properties": {"n": {"type": "number"}, "next": {"$ref": "#/writer"}},
    }
    reader = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "next": {"$ref": "#/reader"}},
    }
    assert [(i.kind, i.field) for i in issues(tmp_path, writer, reader)] == [("type", "n")]


def test_writer_all_of_with_one_fitting_branch(tmp_path: Path) -> None:
    writer = {"allOf": [{"type": "string", "maxLength": 3}, {"type": "string", "minLength": 1}]}
    assert issues(tmp_path, writer, {"type": "string", "maxLength": 3}) == []


def test_reader_all_of_is_checked_branch_by_branch(tmp_path: Path) -> None:
    reader = {"allOf": [{"type": "string"}, {"maxLength": 3}]}
    assert kinds(issues(tmp_path, {"type": "string"}, reader)) == ERR_CONSTRAINT


def test_an_unbounded_integer_writer_is_named_unbounded_not_by_int64s_limit(
    tmp_path: Path,
) -> None:
    found = issues(tmp_path, {"type": "integer"}, {"type": "integer", "maximum": 5})
    assert [i.reason for i in found] == ["the reader's maximum is 5, the writer's unbounded"]
