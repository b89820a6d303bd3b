"""The operator's side imports `runtime`; runtime, services and generated code never import it."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IMPORTERS = ("runtime", "services", "generated")
OPERATOR_PACKAGE = "a4co"


def operator_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of each import of the operator's package in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        found += [(node.lineno, m) for m in modules if m.split(".")[0] == OPERATOR_PACKAGE]
    return found


def test_the_check_finds_every_form_of_operator_import() -> None:
    source = (
        "import a4co\nimport os, a4co.cli\nfrom a4co.launcher import Platform\n"
        "from a4co import infra\n"
    )

    assert operator_imports(source) == [
        (1, "a4co"),
        (2, "a4co.cli"),
        (3, "a4co.launcher"),
        (4, "a4co"),
    ]
    assert operator_imports("import a4cox\nfrom runtime.bus import Bus\nfrom . import a4co\n") == []


def test_runtime_services_and_generated_code_never_import_the_operator_package() -> None:
    files = [path for folder in IMPORTERS for path in sorted((REPO / folder).rglob("*.py"))]
    offences = [
        f"{path.relative_to(REPO)}:{line}: imports {module}"
        for path in files
        for line, module in operator_imports(path.read_text(encoding="utf-8"))
    ]

    assert len(files) > 100, f"found only {len(files)} Python files under {IMPORTERS}"
    assert offences == [], "the operator's side is imported by:\n" + "\n".join(offences)
