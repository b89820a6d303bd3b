"""Helpers of the contract tests: the repository's paths and a copy-and-break fixture."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "contracts"
GENERATED = REPO / "generated"
MINI = Path(__file__).resolve().parent / "fixtures" / "mini"


@pytest.fixture
def mini_copy(tmp_path: Path) -> Callable[[], Path]:
    """Copy the mini fixture catalog to a temp folder named `contracts` and return it."""

    def make() -> Path:
        target = tmp_path / "contracts"
        shutil.copytree(MINI, target)
        return target

    return make


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact text in a file; fail loudly when it is not there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not found in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
