"""What a landing may change, as one comparable value; also runnable as a script
(`python tests/fingerprint.py REPO` prints it as JSON) for tests that run in a
mount namespace of their own.

Two runs of a command on two copies of a repository give the same commits when
author and committer dates are fixed (DATES), so "exactly the landed change" is
the fingerprint of a copy where the command ran undisturbed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

DATES = {"GIT_AUTHOR_DATE": "1767225600 +0000", "GIT_COMMITTER_DATE": "1767225600 +0000"}
# what a run may leave in the git directory, none of which a settled repository has
LEFTOVERS = ("index.lock", "paxx-patch-landing", "paxx-patch.running", "CHERRY_PICK_HEAD",
             "MERGE_HEAD", "AUTO_MERGE", "sequencer", "refs/paxx-patch/run")
LEFTOVER_PATTERNS = ("fast_import_crash_*", "objects/incoming-paxx-patch-*")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


def _tree(repo: Path) -> dict[str, str]:
    """Every working-tree file's bytes (by digest), symlink target, and directory."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        here = Path(dirpath)
        if here == repo:
            dirnames.remove(".git")
        for name in sorted(dirnames + filenames):
            path = here / name
            rel = path.relative_to(repo).as_posix()
            if path.is_symlink():
                found[rel] = "symlink -> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = "directory"
            else:
                mode = "x" if os.access(path, os.X_OK) else "-"
                found[rel] = f"{mode} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return found


def fingerprint(repo: Path) -> dict[str, Any]:
    head = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=repo,
                          capture_output=True, text=True).stdout.strip()
    refs = _git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    return {
        "HEAD": f"{head or 'detached'} {_git(repo, 'rev-parse', 'HEAD').strip()}",
        "refs": [r for r in refs if not r.startswith("refs/paxx-patch/")],
        "index": _git(repo, "ls-files", "--stage"),
        "files": _tree(repo),
        "status": _git(repo, "status", "--porcelain=v1", "--untracked-files=all", "--ignored"),
        "stash": _git(repo, "stash", "list"),
        "worktrees": _git(repo, "worktree", "list", "--porcelain").replace(str(repo), "<repo>"),
        "config": (repo / ".git" / "config").read_text(),
        "leftovers": [n for n in LEFTOVERS if os.path.lexists(repo / ".git" / n)] + sorted(
            p.relative_to(repo).as_posix() for pattern in LEFTOVER_PATTERNS
            for p in (repo / ".git").glob(pattern)),
    }


def difference(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """The fingerprint's parts that differ, with the files that differ named."""
    out = []
    for key, wanted in want.items():
        if got[key] == wanted:
            continue
        if key == "files":
            names = sorted(k for k in got[key].keys() | wanted.keys()
                           if got[key].get(k) != wanted.get(k))
            out.append(f"files: {', '.join(names)}")
        else:
            out.append(f"{key}: {got[key]!r} != {wanted!r}")
    return out


if __name__ == "__main__":
    json.dump(fingerprint(Path(sys.argv[1]).resolve()), sys.stdout)
