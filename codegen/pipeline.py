"""The generator's pipeline as functions the CLI and the tests call."""

from __future__ import annotations

from pathlib import Path

from codegen.build import build_catalog
from codegen.checks import run_checks
from codegen.errors import ContractError, ContractErrors, Finding
from codegen.loader import Workspace
from codegen.model import Catalog
from codegen.validate import check_documents, validate_examples

__all__ = ["load_catalog"]


def load_catalog(contracts: Path) -> tuple[Workspace, Catalog]:
    """Validate every document and check the whole catalog; raise with every finding."""
    workspace = Workspace(contracts)
    findings: list[Finding] = check_documents(workspace)
    if findings:
        raise ContractErrors(findings)
    try:
        catalog = build_catalog(workspace)
    except ContractError as exc:
        raise ContractErrors([exc.finding]) from exc
    findings = validate_examples(workspace, catalog) + run_checks(workspace, catalog)
    if findings:
        raise ContractErrors(findings)
    return workspace, catalog
