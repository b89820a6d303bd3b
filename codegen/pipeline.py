"""The generator's pipeline as functions the CLI and the tests call."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from codegen.build import build_catalog
from codegen.errors import ContractError, ContractErrors, Finding
from codegen.lint import run_lint
from codegen.loader import Workspace
from codegen.model import Catalog
from codegen.validate import check_documents, validate_examples

__all__ = ["load_catalog"]


def load_catalog(
    contracts: Path, *, report: Callable[[Finding], None] | None = None
) -> tuple[Workspace, Catalog]:
    """Validate every document and lint the whole catalog; raise with every ERR finding.

    WARN findings never raise: they go to `report` (the CLI prints them), or nowhere.
    """
    workspace = Workspace(contracts)
    findings: list[Finding] = check_documents(workspace)
    if findings:
        raise ContractErrors(findings)
    try:
        catalog = build_catalog(workspace)
    except ContractError as exc:
        raise ContractErrors([exc.finding]) from exc
    findings = validate_examples(workspace, catalog) + run_lint(workspace, catalog)
    if report is not None:
        for warning in sorted(f for f in findings if f.level == "WARN"):
            report(warning)
    errors = [f for f in findings if f.level == "ERR"]
    if errors:
        raise ContractErrors(errors)
    return workspace, catalog
