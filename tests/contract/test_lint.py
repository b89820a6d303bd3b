"""Lint rules: one fixture folder per rule, `x-lint-ignore` suppression, levels and the table."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codegen.build import build_catalog
from codegen.cli import main
from codegen.errors import CodegenError, Finding
from codegen.lint import LINT, run_lint
from codegen.loader import Workspace
from codegen.validate import check_documents, validate_examples
from codegen.versions import TODAY_ENV
from tests.contract.conftest import REPO, edit

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lint"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def lint_findings(contracts: Path, *rule_ids: str) -> list[Finding]:
    """The findings of some rules on a contract set that is otherwise valid (meta-schemas,
    examples); `LINT_IGNORE_UNKNOWN` always runs, as `x-lint-ignore` is under test too."""
    workspace = Workspace(contracts)
    assert check_documents(workspace) == []
    catalog = build_catalog(workspace)
    assert validate_examples(workspace, catalog) == []
    return run_lint(workspace, catalog, only={*rule_ids, "LINT_IGNORE_UNKNOWN"})


def places(findings: list[Finding]) -> list[str]:
    """Findings as `expected.txt` writes them: `file#pointer [RULE]`, or `[RULE WARN]`."""
    return sorted(
        f"{f.file}#{f.pointer} [{f.rule}{' WARN' if f.level == 'WARN' else ''}]" for f in findings
    )


def fixture_copy(rule_id: str, tmp_path: Path) -> Path:
    """A writable copy of one rule's fixture contracts, in a folder named `contracts`."""
    target = tmp_path / "contracts"
    shutil.copytree(FIXTURES / rule_id / "contracts", target)
    return target


@pytest.mark.parametrize("rule_id", CASES)
def test_rule_fixture_yields_exactly_its_expected_findings(
    rule_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = FIXTURES / rule_id / "today.txt"  # sunsets are judged on this day, not the calendar's
    if today.exists():
        monkeypatch.setenv(TODAY_ENV, today.read_text(encoding="utf-8").strip())
    text = (FIXTURES / rule_id / "expected.txt").read_text(encoding="utf-8")
    expected = sorted(line for line in text.splitlines() if line.strip())
    assert expected, f"{rule_id}/expected.txt lists no finding"
    assert all(line.endswith((f"[{rule_id}]", f"[{rule_id} WARN]")) for line in expected)
    assert places(lint_findings(FIXTURES / rule_id / "contracts", rule_id)) == expected


def test_every_lint_rule_has_a_fixture_folder() -> None:
    missing = sorted(LINT.rules.keys() - set(CASES))
    assert missing == [], f"add tests/contract/fixtures/lint/<ID>/ for {missing}"
    assert sorted(set(CASES) - LINT.rules.keys()) == [], "a fixture folder names no rule"


def test_every_rule_has_an_id_categories_and_a_one_sentence_purpose() -> None:
    for rule in LINT.rules.values():
        assert rule.id.isupper() and rule.id.replace("_", "").isalpha(), rule.id
        assert rule.categories and rule.level in ("ERR", "WARN"), rule.id
        assert rule.purpose.endswith(".") and rule.purpose.count(". ") == 0, rule.id


def test_the_real_contracts_pass_every_err_rule() -> None:
    workspace = Workspace(REPO / "contracts")
    findings = run_lint(workspace, build_catalog(workspace))
    assert [str(f) for f in findings if f.level == "ERR"] == []


def test_x_lint_ignore_list_silences_its_rule_at_and_below_the_object(tmp_path: Path) -> None:
    rule = "PAYLOAD_CLOSED"
    root = fixture_copy(rule, tmp_path)
    edit(
        root / "asyncapi/shop.yaml",
        "    Line:\n      type: object\n",
        "    Line:\n      x-lint-ignore: [PAYLOAD_CLOSED]\n      type: object\n",
    )
    assert places(lint_findings(root, rule)) == [
        "contracts/asyncapi/shop.yaml#/components/schemas/OrderPlaced/properties/meta "
        "[PAYLOAD_CLOSED]"
    ]


def test_x_lint_ignore_mapping_gives_reasons_and_covers_nested_objects(tmp_path: Path) -> None:
    rule = "PAYLOAD_CLOSED"
    root = fixture_copy(rule, tmp_path)
    edit(
        root / "asyncapi/shop.yaml",
        "    OrderPlaced:\n      type: object\n",
        "    OrderPlaced:\n      x-lint-ignore: {PAYLOAD_CLOSED: meta is free-form by design}\n"
        "      type: object\n",
    )
    assert places(lint_findings(root, rule)) == [
        "contracts/asyncapi/shop.yaml#/components/schemas/Line [PAYLOAD_CLOSED]"
    ]


def test_x_lint_ignore_of_another_rule_silences_nothing(tmp_path: Path) -> None:
    rule = "PAYLOAD_CLOSED"
    root = fixture_copy(rule, tmp_path)
    edit(
        root / "asyncapi/shop.yaml",
        "    Line:\n      type: object\n",
        "    Line:\n      x-lint-ignore: [MONEY_INTEGER]\n      type: object\n",
    )
    assert len(lint_findings(root, rule)) == 2


def test_x_lint_ignore_on_an_openapi_operation_is_valid_openapi(tmp_path: Path) -> None:
    rule = "SECURITY_RESPONSES"
    root = fixture_copy(rule, tmp_path)
    edit(
        root / "openapi/shop.yaml",
        "      x-roles: [admin]\n",
        "      x-roles: [admin]\n"
        "      x-lint-ignore: {SECURITY_RESPONSES: answered by the gateway}\n",
    )
    assert lint_findings(root, rule) == []


def test_x_lint_ignore_at_a_document_root_covers_the_whole_file(tmp_path: Path) -> None:
    rule = "OPERATION_SUMMARY"
    root = fixture_copy(rule, tmp_path)
    for doc in ("asyncapi/shop.yaml", "openapi/shop.yaml"):
        text = (root / doc).read_text(encoding="utf-8")
        (root / doc).write_text(text + "x-lint-ignore: [OPERATION_SUMMARY]\n", encoding="utf-8")
    assert lint_findings(root, rule) == []


def test_unknown_id_in_x_lint_ignore_is_flagged_and_silences_nothing(tmp_path: Path) -> None:
    rule = "PAYLOAD_CLOSED"
    root = fixture_copy(rule, tmp_path)
    edit(
        root / "asyncapi/shop.yaml",
        "    Line:\n      type: object\n",
        "    Line:\n      x-lint-ignore: [PAYLOAD_CLOSE]\n      type: object\n",
    )
    assert places(lint_findings(root, rule)) == [
        "contracts/asyncapi/shop.yaml#/components/schemas/Line [PAYLOAD_CLOSED]",
        "contracts/asyncapi/shop.yaml#/components/schemas/Line/x-lint-ignore [LINT_IGNORE_UNKNOWN]",
        "contracts/asyncapi/shop.yaml#/components/schemas/OrderPlaced/properties/meta "
        "[PAYLOAD_CLOSED]",
    ]


def test_only_runs_the_named_rules_and_rejects_unknown_ids() -> None:
    workspace = Workspace(FIXTURES / "PAYLOAD_CLOSED" / "contracts")
    catalog = build_catalog(workspace)
    assert run_lint(workspace, catalog, only=["MONEY_INTEGER"]) == []
    with pytest.raises(CodegenError, match="NO_SUCH_RULE"):
        run_lint(workspace, catalog, only=["NO_SUCH_RULE"])


def test_warn_findings_are_printed_but_do_not_fail_validate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    contracts = FIXTURES / "SCHEMA_KEYWORD_UNENFORCED" / "contracts"
    assert main(["validate", "--contracts", str(contracts)]) == 0
    err = capsys.readouterr().err
    assert err.count("[SCHEMA_KEYWORD_UNENFORCED WARN]") == 5


def test_err_findings_fail_validate(capsys: pytest.CaptureFixture[str]) -> None:
    contracts = FIXTURES / "PAYLOAD_CLOSED" / "contracts"
    assert main(["validate", "--contracts", str(contracts)]) == 1
    assert "[PAYLOAD_CLOSED]" in capsys.readouterr().err


def test_lint_rules_command_prints_every_rule() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "codegen", "lint-rules"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    rows = {line.split()[0]: line.split()[1:4] for line in done.stdout.splitlines()[1:]}
    assert sorted(rows) == sorted(LINT.rules)
    for rule in LINT.rules.values():
        level, default, categories = rows[rule.id]
        on = "on" if rule.default else "off"
        assert (level, default, categories) == (rule.level, on, ",".join(rule.categories))


def test_an_object_of_moneys_shape_with_bounds_is_money(tmp_path: Path) -> None:
    """Money with bounds (as the shared Price) passes; an object without an integer
    `amount_minor` still fails."""
    rule = "MONEY_INTEGER"
    root = fixture_copy(rule, tmp_path)
    edit(
        root / "asyncapi/shop.yaml",
        "        unit_price: {type: number, description: Price of one unit in euros.}\n",
        "        unit_price:\n"
        "          type: object\n"
        "          description: Price of one unit.\n"
        "          additionalProperties: false\n"
        "          required: [amount_minor, currency]\n"
        "          properties:\n"
        "            amount_minor: {type: integer, minimum: 1, description: Cents.}\n"
        "            currency: {type: string, enum: [EUR], description: Currency.}\n",
    )
    edit(
        root / "asyncapi/shop.yaml",
        "unit_price: 1.5}",
        "unit_price: {amount_minor: 150, currency: EUR}}",
    )
    assert lint_findings(root, rule) == []
    edit(
        root / "asyncapi/shop.yaml", "amount_minor: {type: integer,", "amount_minor: {type: number,"
    )
    assert places(lint_findings(root, rule)) == [
        "contracts/asyncapi/shop.yaml#/components/schemas/OrderPlaced/properties/unit_price "
        "[MONEY_INTEGER]"
    ]


@pytest.mark.parametrize(
    ("today", "rules"),
    [
        ("2027-01-29", []),
        ("2027-01-30", ["VERSION_SUNSET_NEAR"]),
        ("2027-03-01", ["VERSION_SUNSET_NEAR"]),
        ("2027-03-02", ["VERSION_SUNSET_PASSED"]),
    ],
)
def test_a_sunset_warns_within_30_days_and_fails_the_day_after(
    today: str, rules: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TODAY_ENV, today)
    found = lint_findings(
        FIXTURES / "VERSION_SUNSET_NEAR" / "contracts",
        "VERSION_SUNSET_NEAR",
        "VERSION_SUNSET_PASSED",
    )
    assert [f.rule for f in found] == rules


def test_a_malformed_today_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TODAY_ENV, "tomorrow")
    with pytest.raises(ValueError, match=TODAY_ENV):
        lint_findings(FIXTURES / "VERSION_SUNSET_NEAR" / "contracts", "VERSION_SUNSET_PASSED")
