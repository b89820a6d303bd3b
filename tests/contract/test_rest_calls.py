"""`x-calls`: which REST operations of other services a service calls. The declarations
match what the services' code calls through the generated clients, and a declaration that
names nothing is an error with its file and pointer."""

from __future__ import annotations

import ast
import importlib
import inspect
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from codegen.build import build_catalog
from codegen.catalog_site import render_site
from codegen.errors import ContractErrors
from codegen.loader import Workspace
from codegen.naming import snake
from tests.contract.conftest import CONTRACTS, REPO, edit


def _client_calls() -> dict[str, set[tuple[str, str]]]:
    """Service -> (callee, method) called on a generated client in its code: a method of a
    `generated.<callee>.client` class that the service's modules call by name."""
    out: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for folder in sorted((REPO / "services").iterdir()):
        if not folder.is_dir():
            continue
        for module in sorted(folder.rglob("*.py")):
            tree = ast.parse(module.read_text(encoding="utf-8"))
            callees = {
                node.module.split(".")[1]
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("generated.")
                and node.module.endswith(".client")
            }
            called = {
                node.func.attr
                for node in ast.walk(tree)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            }
            for callee in callees:
                client = importlib.import_module(f"generated.{callee}.client")
                methods = {
                    name
                    for _, cls in inspect.getmembers(client, inspect.isclass)
                    if cls.__module__ == client.__name__
                    for name, _ in inspect.getmembers(cls, inspect.iscoroutinefunction)
                    if not name.startswith("_")
                }
                out[folder.name] |= {(callee, m) for m in called & methods}
    return out


def test_every_generated_client_call_is_declared_and_every_declaration_is_called() -> None:
    catalog = build_catalog(Workspace(CONTRACTS))
    declared = {
        name: {(c.service, snake(c.operation_id)) for c in service.calls}
        for name, service in catalog.services.items()
        if service.calls
    }
    used = _client_calls()
    assert used, "no service calls another through a generated client: the scan found nothing"
    assert {k: v for k, v in used.items() if v} == declared


def test_the_callers_of_an_operation_are_named() -> None:
    catalog = build_catalog(Workspace(CONTRACTS))
    assert catalog.callers("user", "getProfile") == ["chat", "order"]
    assert catalog.callers("user", "registerUser") == []


@pytest.mark.parametrize(
    ("written", "pointer", "said"),
    [
        ("x-calls: {usr: [getProfile]}", "/x-calls/usr/0", "'usr', which is not a service"),
        (
            "x-calls: {user: [getProfil]}",
            "/x-calls/user/0",
            "user.getProfil, which its OpenAPI does not declare",
        ),
        ("x-calls: {user: getProfile}", "/x-calls", "maps a service to a list of operationIds"),
    ],
)
def test_a_declaration_that_names_nothing_is_an_error_with_its_pointer(
    tmp_path: Path, written: str, pointer: str, said: str
) -> None:
    contracts = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, contracts)
    edit(contracts / "openapi/order.yaml", "x-calls: {user: [getProfile]}", written)

    with pytest.raises(ContractErrors) as raised:
        build_catalog(Workspace(contracts))

    (finding,) = raised.value.findings
    assert (finding.file, finding.pointer) == ("contracts/openapi/order.yaml", pointer)
    assert said in finding.message


def test_the_catalog_shows_who_calls_each_rest_operation() -> None:
    workspace = Workspace(CONTRACTS)
    page = render_site(workspace, build_catalog(workspace))["services/user.html"]
    row = next(r for r in page.split("<tr")[1:] if ">getProfile<" in r and "GET" in r)
    assert 'href="../services/chat.html"' in row and 'href="../services/order.html"' in row
    register = next(r for r in page.split("<tr")[1:] if ">registerUser<" in r)
    assert "services/order.html" not in register
