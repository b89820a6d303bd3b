"""The contracts of earlier commits, read with git plumbing only (never the working tree).

`materialise` extracts one commit's contracts folder into a temporary directory with
`git archive`; `history` lists the earlier versions a transitive mode compares with.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from codegen.errors import CodegenError

__all__ = ["HISTORY_LIMIT", "default_base", "history", "materialise", "repo_root"]

HISTORY_LIMIT = 50
"""At most this many commits that touched the contracts are compared by transitive modes."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)


def repo_root(path: Path) -> Path:
    """The top of the git work tree that holds `path`."""
    done = _git(path if path.is_dir() else path.parent, "rev-parse", "--show-toplevel")
    if done.returncode:
        raise CodegenError(f"{path} is not inside a git repository: {done.stderr.decode().strip()}")
    return Path(done.stdout.decode().strip())


def default_base(repo: Path) -> str:
    """`git merge-base HEAD main`, or HEAD when there is no `main` (on main it is HEAD)."""
    done = _git(repo, "merge-base", "HEAD", "main")
    return done.stdout.decode().strip() if done.returncode == 0 else "HEAD"


def commit_of(repo: Path, ref: str) -> str:
    """The commit a ref names; a sentence naming the ref when it names none."""
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if done.returncode:
        raise CodegenError(f"base '{ref}' is not a commit of {repo}")
    return done.stdout.decode().strip()


def materialise(repo: Path, commit: str, folder: str, into: Path) -> Path | None:
    """Extract `folder` as it is at `commit` under `into`; `None` when the commit lacks it."""
    if _git(repo, "cat-file", "-e", f"{commit}:{folder}").returncode:
        return None
    done = _git(repo, "archive", "--format=tar", commit, "--", folder)
    if done.returncode:
        raise CodegenError(f"git archive {commit} {folder} failed: {done.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / folder


def history(repo: Path, commit: str, folder: str) -> list[str]:
    """Commits before `commit` that changed `folder`, newest first, one per distinct tree."""
    done = _git(repo, "rev-list", f"--max-count={HISTORY_LIMIT + 1}", commit, "--", folder)
    seen = {_tree(repo, commit, folder)}
    out = []
    for line in done.stdout.decode().split():
        tree = _tree(repo, line, folder)
        if tree not in seen:
            seen.add(tree)
            out.append(line)
    return out[:HISTORY_LIMIT]


def _tree(repo: Path, commit: str, folder: str) -> str:
    return _git(repo, "rev-parse", f"{commit}:{folder}").stdout.decode().strip()
