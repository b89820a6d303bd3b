"""`python -m codegen breaking`: compare the contracts with those of a base commit."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from codegen.breaking import BREAKING, Contracts, run_breaking
from codegen.breaking.history import commit_of, default_base, history, materialise, repo_root
from codegen.breaking.modes import transitive
from codegen.build import build_catalog
from codegen.errors import ContractError, ContractErrors
from codegen.loader import Workspace
from codegen.validate import check_documents

__all__ = ["breaking"]


def breaking(contracts: Path, base: str | None = None, *, list_rules: bool = False) -> int:
    """Print every breaking change against `base` (default: the merge-base with main);
    return 1 when any is an error. With `list_rules`, print the registry instead."""
    if list_rules:
        print(BREAKING.table())
        return 0
    current = _current(contracts)
    repo = repo_root(contracts.resolve())
    folder = contracts.resolve().relative_to(repo).as_posix()
    ref = base or default_base(repo)
    commit = commit_of(repo, ref)
    with tempfile.TemporaryDirectory() as tmp:
        previous = _version(repo, commit, folder, Path(tmp), ref, 0)
        if previous is None:
            print(f"{ref} has no loadable {folder}/: nothing to compare", file=sys.stderr)
            return 0
        older: list[Contracts] = []
        if any(transitive(s.compatibility) for s in current.catalog.streams):
            for depth, old in enumerate(history(repo, commit, folder), start=1):
                version = _version(repo, old, folder, Path(tmp), old[:10], depth)
                older += [version] if version else []
        findings = run_breaking(previous, current, older)
    for finding in findings:
        print(finding)
    errors = sum(1 for f in findings if f.level == "ERR")
    print(
        f"{errors} breaking change(s), {len(findings) - errors} warning(s) against {ref} "
        f"and {len(older)} earlier version(s)",
        file=sys.stderr,
    )
    return 1 if errors else 0


def _current(contracts: Path) -> Contracts:
    """The working tree's contracts, valid documents that build, but not linted: a lint
    rule (a renamed subject breaks SUBJECT_NAMING) would stop the command before the
    compatibility rule that names the change; `make validate` runs the lint."""
    workspace = Workspace(contracts)
    findings = check_documents(workspace)
    if findings:
        raise ContractErrors(findings)
    try:
        return Contracts(workspace, build_catalog(workspace))
    except ContractError as exc:
        raise ContractErrors([exc.finding]) from exc


def _version(
    repo: Path, commit: str, folder: str, tmp: Path, label: str, depth: int
) -> Contracts | None:
    """The contracts of one commit, or `None` (said on stderr) when absent or unreadable."""
    root = materialise(repo, commit, folder, tmp / str(depth))
    if root is None or not (root / "platform.yaml").is_file():
        return None
    workspace = Workspace(root)
    if depth and "compatibility:" not in (root / "platform.yaml").read_text(encoding="utf-8"):
        return None  # no promise written down yet: transitive history starts later
    try:
        return Contracts(workspace, build_catalog(workspace), label, depth)
    except (ContractError, ContractErrors, KeyError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"note: contracts at {label} do not load ({first}); skipped", file=sys.stderr)
        return None
