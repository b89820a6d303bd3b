"""Each breaking-change rule against its fixture folder: previous/, current/, expected.txt."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen.breaking import BREAKING, Contracts, run_breaking
from codegen.build import build_catalog
from codegen.loader import Workspace

FIXTURES = Path(__file__).resolve().parent / "breaking"
FOLDERS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def contracts(root: Path) -> Contracts:
    """One fixture side as the rules see it (built, not linted: the fixtures are tiny)."""
    workspace = Workspace(root)
    return Contracts(workspace, build_catalog(workspace), root.name)


def test_every_registered_rule_has_a_fixture_folder() -> None:
    assert sorted(BREAKING.rules) == FOLDERS


@pytest.mark.parametrize("rule", FOLDERS)
def test_rule_reports_exactly_its_expected_findings(rule: str) -> None:
    folder = FIXTURES / rule
    found = run_breaking(contracts(folder / "previous"), contracts(folder / "current"))
    mine = [str(f) for f in found if f.rule == rule]
    expected = (folder / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert expected, f"{rule}'s expected.txt is empty: a fixture must show the rule firing"
    assert mine == expected


@pytest.mark.parametrize("rule", FOLDERS)
def test_unchanged_contracts_have_no_findings(rule: str) -> None:
    side = contracts(FIXTURES / rule / "previous")
    assert run_breaking(side, side) == []


def test_registry_rules_have_purpose_and_upper_snake_ids() -> None:
    for rule in BREAKING.rules.values():
        assert rule.id.isupper() and " " not in rule.id
        assert rule.purpose.endswith(".")
        assert rule.categories
