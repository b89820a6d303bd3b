"""Load contract documents and resolve `$ref`s across files, JSON-pointer by JSON-pointer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from codegen.errors import ContractError, Finding

__all__ = ["Ref", "Workspace", "escape", "join_pointer"]


class _JsonSafeLoader(yaml.SafeLoader):
    """A YAML loader that keeps timestamps as strings and refuses duplicate keys.

    PyYAML keeps the last of two equal keys silently; in a contract that hides an edit.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_JsonSafeLoader.yaml_implicit_resolvers = {
    key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def escape(token: str) -> str:
    """Escape one JSON-pointer token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def join_pointer(pointer: str, *tokens: str | int) -> str:
    """Append tokens to a JSON pointer."""
    return pointer + "".join("/" + escape(str(t)) for t in tokens)


def _split(pointer: str) -> list[str]:
    if pointer in ("", "/"):
        return []
    return [
        unquote(t).replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")
    ]


@dataclass(frozen=True, order=True, slots=True)
class Ref:
    """An absolute place: a document (path relative to the workspace root) and a pointer."""

    file: str
    pointer: str = ""

    @property
    def name(self) -> str:
        """Last token of the pointer (a schema's name), or the file's stem."""
        tokens = _split(self.pointer)
        return tokens[-1] if tokens else Path(self.file).stem


@dataclass
class Workspace:
    """The contract documents under one root, loaded once and resolved lazily."""

    root: Path
    _docs: dict[str, Any] = field(default_factory=dict)

    def rel(self, path: Path) -> str:
        """The workspace-relative name of a file, as error messages print it."""
        return path.resolve().relative_to(self.root.resolve().parent).as_posix()

    def document(self, file: str) -> Any:
        """Load (once) and return the document at a workspace-relative path."""
        if file not in self._docs:
            path = self.root.resolve().parent / file
            if not path.is_file():
                raise ContractError(Finding(file, "", "the file does not exist", "REF_UNRESOLVED"))
            try:
                self._docs[file] = yaml.load(path.read_text(encoding="utf-8"), _JsonSafeLoader)
            except yaml.YAMLError as exc:
                raise ContractError(Finding(file, "", f"is not valid YAML: {exc}")) from exc
        return self._docs[file]

    def target_of(self, ref: str, base: Ref) -> Ref:
        """The absolute place a `$ref` string written at `base` points to."""
        file_part, _, pointer = ref.partition("#")
        if not file_part:
            return Ref(base.file, pointer)
        target = (self.root.resolve().parent / base.file).parent / file_part
        return Ref(Path(_normalise(target, self.root.resolve().parent)).as_posix(), pointer)

    def resolve(self, at: Ref, *, source: Ref | None = None) -> tuple[Ref, Any]:
        """Walk `at`'s pointer, following every `$ref` met on the way and at the end."""
        node = self.document(at.file)
        here = Ref(at.file, "")
        for token in _split(at.pointer):
            here, node = self._follow(here, node, source or at)
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                origin = source or at
                raise ContractError(
                    Finding(
                        origin.file,
                        origin.pointer,
                        f"$ref to {at.file}#{at.pointer} does not resolve: "
                        f"no '{token}' under {here.file}#{here.pointer}",
                        "REF_UNRESOLVED",
                    )
                )
            here = Ref(here.file, join_pointer(here.pointer, token))
        return self._follow(here, node, source or at)

    def _follow(self, here: Ref, node: Any, source: Ref, depth: int = 0) -> tuple[Ref, Any]:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            if depth > 32:
                raise ContractError(Finding(here.file, here.pointer, "$ref chain is circular"))
            target = self.target_of(node["$ref"], here)
            if not (self.root.resolve().parent / target.file).is_file():
                raise ContractError(
                    Finding(
                        here.file,
                        here.pointer,
                        f"$ref '{node['$ref']}' does not resolve: no file {target.file}",
                        "REF_UNRESOLVED",
                    )
                )
            here, node = self.resolve(target, source=here)
            depth += 1
        return here, node


def _normalise(path: Path, top: Path) -> str:
    """Collapse `..` in a path and make it relative to `top`."""
    parts: list[str] = []
    for part in path.as_posix().split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    absolute = Path("/" + "/".join(parts))
    return absolute.relative_to(top).as_posix()
