"""The contract loader refuses YAML that would silently lose an edit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from codegen.errors import ContractErrors
from codegen.pipeline import load_catalog


def test_a_duplicate_key_is_an_error_naming_the_file_and_line(
    mini_copy: Callable[[], Path],
) -> None:
    root = mini_copy()
    path = root / "asyncapi/stock.yaml"
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    path.write_text(text + "asyncapi: 3.0.0\n", encoding="utf-8")

    with pytest.raises(ContractErrors) as caught:
        load_catalog(root)

    (finding,) = [f for f in caught.value.findings if "duplicate key" in f.message]
    assert finding.file.endswith("asyncapi/stock.yaml")
    assert "found duplicate key 'asyncapi'" in finding.message
    assert f"line {lines + 1}" in finding.message
