"""Write generated files (formatted by ruff) and compare them with what is committed."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from codegen.errors import CodegenError
from codegen.pipeline import load_catalog
from codegen.render import render_all

__all__ = ["check", "generate", "render_to"]

_RUFF_CONFIG = [
    "--line-length",
    "100",
    "--target-version",
    "py311",
    "--config",
    "lint.isort.known-first-party=['runtime', 'generated', 'services']",
]


def _ruff() -> str:
    local = Path(sys.executable).parent / "ruff"
    found = str(local) if local.exists() else shutil.which("ruff")
    if not found:
        raise CodegenError("ruff is not installed; run `make install`")
    return found


def render_to(contracts: Path, folder: Path) -> int:
    """Render every file into `folder`, then fix imports and format with ruff."""
    workspace, catalog = load_catalog(contracts)
    files = render_all(workspace, catalog)
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    ruff = _ruff()
    for args in (
        ["check", "--fix", "--select", "F401,I,RUF022", "--quiet", "--exit-zero"],
        ["format", "--quiet"],
    ):
        subprocess.run([ruff, *args, *_RUFF_CONFIG, "--no-cache", str(folder)], check=True)
    return len(files)


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def generate(contracts: Path, out: Path) -> int:
    """Regenerate `out` from the contracts; files no longer generated are removed."""
    with tempfile.TemporaryDirectory() as tmp:
        count = render_to(contracts, Path(tmp))
        fresh = _tree(Path(tmp))
    current = _tree(out) if out.exists() else {}
    for relative in current.keys() - fresh.keys():
        (out / relative).unlink()
    for relative, data in fresh.items():
        if current.get(relative) != data:
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            (out / relative).write_bytes(data)
    return count


def check(contracts: Path, out: Path, *, max_lines: int = 60) -> str:
    """A diff of what `generate` would change in `out`, or '' when it is up to date."""
    with tempfile.TemporaryDirectory() as tmp:
        render_to(contracts, Path(tmp))
        fresh = _tree(Path(tmp))
    current = _tree(out) if out.exists() else {}
    lines: list[str] = []
    for relative in sorted(fresh.keys() | current.keys()):
        old, new = current.get(relative), fresh.get(relative)
        if old == new:
            continue
        lines.append(
            f"stale: {out / relative}"
            + (" (missing)" if old is None else " (no longer generated)" if new is None else "")
        )
        diff = difflib.unified_diff(
            (old or b"").decode().splitlines(),
            (new or b"").decode().splitlines(),
            f"{out / relative} (committed)",
            f"{out / relative} (from contracts)",
            lineterm="",
            n=1,
        )
        lines += list(diff)[:max_lines]
    return "\n".join(lines)
