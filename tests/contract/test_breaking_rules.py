"""Each breaking-change rule against its fixture folder: previous/, current/, expected.txt;
and the changes tolerant readers make compatible (compatible/) under every mode."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from codegen.breaking import BREAKING, Contracts, run_breaking
from codegen.breaking.modes import Direction, weaker
from codegen.breaking.payloads import compared
from codegen.build import build_catalog
from codegen.errors import ContractErrors, Finding
from codegen.loader import Ref, Workspace

FIXTURES = Path(__file__).resolve().parent / "breaking"
FOLDERS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
COMPATIBLE = Path(__file__).resolve().parent / "compatible"
CHANGES = sorted(p.name for p in COMPATIBLE.iterdir() if p.is_dir())
SIDES = ("previous", "current")
DIRECTIONS: tuple[Direction, ...] = ("backward", "forward")
MODES = [f"{kind}{end}" for kind in ("BACKWARD", "FORWARD", "FULL") for end in ("", "_TRANSITIVE")]


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


@pytest.mark.parametrize(
    ("new", "old", "weakened"),
    [
        ("FULL", "FULL", False),
        ("FULL_TRANSITIVE", "FULL", False),
        ("FULL", "BACKWARD", False),
        ("BACKWARD", "FULL", True),
        ("FORWARD", "BACKWARD", True),
        ("FULL", "FORWARD_TRANSITIVE", True),
        ("BACKWARD_TRANSITIVE", "BACKWARD", False),
    ],
)
def test_a_mode_is_weaker_when_it_leaves_out_a_direction_or_the_history(
    new: str, old: str, weakened: bool
) -> None:
    assert weaker(new, old) is weakened


def test_a_weakened_mode_still_applies_to_the_change_that_weakens_it() -> None:
    # The fixture weakens SHOP from FULL to BACKWARD and adds an enum value, which only a
    # FORWARD check forbids. In that change the value is still reported; once the weaker
    # mode is the base, the same addition passes.
    folder = FIXTURES / "STREAM_COMPATIBILITY_NO_WEAKEN"
    weakening = run_breaking(contracts(folder / "previous"), contracts(folder / "current"))
    later = run_breaking(contracts(folder / "current"), contracts(folder / "current"))
    landed_then_added = _with_previous_enum(folder)

    assert "MESSAGE_ENUM_VALUE_NO_ADD" in {f.rule for f in weakening}
    assert later == []
    assert "MESSAGE_ENUM_VALUE_NO_ADD" not in {f.rule for f in landed_then_added}


def _with_previous_enum(folder: Path) -> list[Finding]:
    """The current side against a base with the weaker mode and the old enum."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "previous"
        shutil.copytree(folder / "previous", base)
        shutil.copy(folder / "current" / "platform.yaml", base / "platform.yaml")
        return run_breaking(contracts(base), contracts(folder / "current"))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("change", CHANGES)
def test_an_optional_message_field_added_or_removed_passes_every_mode(
    change: str, mode: str, tmp_path: Path
) -> None:
    # Subscribers ignore fields they do not declare: the old one a new producer's field,
    # the new one the field a retained message still carries.
    previous, current = (_in_mode(COMPATIBLE / change / side, mode, tmp_path) for side in SIDES)
    assert run_breaking(previous, current) == []


@pytest.mark.parametrize("change", CHANGES)
def test_the_compatible_changes_would_break_a_reader_that_rejects_unknown_fields(
    change: str,
) -> None:
    previous, current = (contracts(COMPATIBLE / change / side) for side in SIDES)
    old, new = _payload(previous), _payload(current)
    closed = [
        issue
        for direction in DIRECTIONS
        for issue in compared(previous, old, current, new, direction)
    ]
    assert {issue.kind for issue in closed} == {"field-unknown"}
    assert all(not compared(previous, old, current, new, d, tolerant=True) for d in DIRECTIONS)


def _in_mode(side: Path, mode: str, tmp_path: Path) -> Contracts:
    """A copy of a fixture side whose stream has compatibility `mode`."""
    root = tmp_path / side.name
    root.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(side, root)
    platform = root / "platform.yaml"
    text = platform.read_text(encoding="utf-8")
    assert "compatibility: FULL}" in text
    platform.write_text(text.replace("compatibility: FULL}", f"compatibility: {mode}}}"))
    return contracts(root)


def _payload(side: Contracts) -> Ref:
    (channel,) = side.catalog.channels.values()
    return channel.message.payload


VERSIONS = Path(__file__).resolve().parent / "versions"


@pytest.mark.parametrize(
    ("before", "after"),
    [("v1", "v2_beside"), ("v2_beside", "moved"), ("moved", "retired")],
)
def test_each_step_of_a_version_migration_passes(before: str, after: str) -> None:
    # v2 is added beside v1 with the links; mailer moves to v2; then v1 is retired.
    found = run_breaking(contracts(VERSIONS / before), contracts(VERSIONS / after))
    assert found == []


def test_retiring_v1_fails_naming_the_services_that_still_receive_it() -> None:
    found = run_breaking(contracts(VERSIONS / "v2_beside"), contracts(VERSIONS / "retired"))
    assert [f.rule for f in found] == ["CHANNEL_NO_RETIRE_WHILE_RECEIVED"]
    assert "while mailer still receives it" in found[0].message


def test_removing_v1_without_a_version_that_replaces_it_fails() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        orphan = Path(tmp) / "orphan"
        shutil.copytree(VERSIONS / "retired", orphan)
        shop = orphan / "asyncapi" / "shop.yaml"
        shop.write_text(shop.read_text().replace("    x-replaces: shop.order_placed.v1\n", ""))
        found = run_breaking(contracts(VERSIONS / "moved"), contracts(orphan))
    assert [f.rule for f in found] == ["CHANNEL_NO_DELETE"]


@pytest.mark.parametrize("mode", ["FULL_TRANSITIVE", "BACKWARD_TRANSITIVE", "FORWARD_TRANSITIVE"])
def test_one_edit_is_one_finding_however_many_earlier_versions_show_it(
    mode: str, tmp_path: Path
) -> None:
    folder = FIXTURES / "MESSAGE_FIELD_TYPE_NO_CHANGE"
    previous = _in_mode(folder / "previous", mode, tmp_path / "base")
    current = _in_mode(folder / "current", mode, tmp_path / "now")
    older = [
        Contracts(previous.workspace, previous.catalog, f"older{depth}", depth)
        for depth in (1, 2, 3)
    ]
    found = run_breaking(previous, current, older)
    assert [f.rule for f in found] == ["MESSAGE_FIELD_TYPE_NO_CHANGE"]
    assert "compared with the contract at" not in found[0].message


def test_a_finding_only_older_versions_show_is_kept_once_from_the_newest(tmp_path: Path) -> None:
    folder = FIXTURES / "MESSAGE_FIELD_TYPE_NO_CHANGE"
    previous = _in_mode(folder / "current", "FULL_TRANSITIVE", tmp_path / "base")
    older_side = _in_mode(folder / "previous", "FULL_TRANSITIVE", tmp_path / "old")
    older = [
        Contracts(older_side.workspace, older_side.catalog, f"older{depth}", depth)
        for depth in (1, 2)
    ]
    found = run_breaking(previous, previous, older)
    assert len(found) == 1
    assert found[0].message.endswith("(compared with the contract at older1)")


@pytest.mark.parametrize("mode", MODES)
def test_a_type_change_is_reported_once_as_a_change_under_every_mode(
    mode: str, tmp_path: Path
) -> None:
    folder = FIXTURES / "MESSAGE_FIELD_TYPE_NO_CHANGE"
    previous, current = (_in_mode(folder / side, mode, tmp_path) for side in SIDES)
    found = run_breaking(previous, current)
    assert [f.rule for f in found] == ["MESSAGE_FIELD_TYPE_NO_CHANGE"]
    assert "changed type from integer to string" in found[0].message


def test_an_event_sourced_name_that_is_no_service_is_an_error_with_its_pointer(
    tmp_path: Path,
) -> None:
    # A typo would leave the real owner's stored versions unprotected.
    folder = FIXTURES / "CHANNEL_NO_RETIRE_WHILE_STORED" / "current"
    root = tmp_path / "current"
    shutil.copytree(folder, root)
    platform = root / "platform.yaml"
    platform.write_text(
        platform.read_text().replace("event_sourced: [shop]", "event_sourced: [shp]")
    )

    with pytest.raises(ContractErrors) as caught:
        build_catalog(Workspace(root))

    [finding] = caught.value.findings
    assert finding.pointer == "/event_sourced/0" and "'shp'" in finding.message
