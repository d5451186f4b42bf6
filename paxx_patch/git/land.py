"""Deliver built commits: on the current branch, on a new branch, or as patches."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from paxx_patch.errors import PaxxError
from paxx_patch.git.repo import Git


def dirty_paths(git: Git, paths: Sequence[str]) -> list[str]:
    """Touched paths with staged, unstaged or untracked changes."""
    if not paths:
        return []
    out = git.run(
        "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames",
        "--", *paths,
    ).stdout
    return sorted(
        entry[3:].decode("utf-8", errors="surrogateescape")
        for entry in out.split(b"\0") if entry
    )


def refuse_dirty(git: Git, paths: Sequence[str]) -> None:
    dirty = dirty_paths(git, paths)
    if dirty:
        listing = "\n".join(f"  {p}" for p in dirty)
        raise PaxxError(
            "these files would be changed but have uncommitted changes:\n"
            f"{listing}\n"
            "Commit or stash them first (`git stash`), or use --branch NAME or -o DIR, "
            "which leave your checkout alone. Nothing was changed."
        )


def land_on_head(git: Git, base: str, tip: str, touched: Sequence[str]) -> None:
    """Move the current branch from `base` to `tip` and update the touched paths.

    The branch moves only if it still points at `base` (compare-and-swap), so a
    commit made meanwhile is never lost; then the index and working tree are
    updated for the touched paths only, as a fast-forward would.
    """
    refuse_dirty(git, touched)
    ref = git.head_ref() or "HEAD"
    proc = git.run("update-ref", "-m", "paxx-patch: fast-forward", ref, tip, base, check=False)
    if proc.returncode != 0:
        raise PaxxError(
            f"{ref} moved while paxx-patch was working (it is no longer {base[:12]}); "
            "nothing was changed. Run the command again."
        )
    present = git.run("ls-tree", "-z", "--name-only", "--full-tree", tip, "--", *touched).stdout
    keep = [p.decode("utf-8", errors="surrogateescape") for p in present.split(b"\0") if p]
    gone = sorted(set(touched) - set(keep))
    if keep:
        git.run("checkout", tip, "--", *keep)
    if gone:
        git.run("rm", "-q", "--cached", "--ignore-unmatch", "--", *gone)
        for path in gone:
            try:
                os.unlink(git.top / path)
            except FileNotFoundError:
                pass


def create_branch(git: Git, name: str, tip: str) -> None:
    if git.run("check-ref-format", "--branch", name, check=False).returncode != 0:
        raise PaxxError(f"{name!r} is not a valid branch name; pick another --branch NAME.")
    proc = git.run("update-ref", "-m", "paxx-patch: branch", f"refs/heads/{name}", tip, "", check=False)
    if proc.returncode != 0:
        raise PaxxError(
            f"branch {name!r} already exists; pick another --branch NAME or delete it "
            f"with `git branch -D {name}`. Nothing was changed."
        )


def write_patches(git: Git, base: str, tip: str, directory: Path) -> list[Path]:
    if directory.exists() and any(directory.glob("*.patch")):
        raise PaxxError(
            f"{directory} already holds .patch files; remove them or choose another "
            "-o DIR, so the series is not mixed with an older one. Nothing was changed."
        )
    directory.mkdir(parents=True, exist_ok=True)
    out = git.out(
        "format-patch", "--full-index", "--no-signature", "--zero-commit",
        "-o", str(directory.resolve()), f"{base}..{tip}",
    )
    return [Path(line) for line in out.splitlines() if line]


def patch_mbox(git: Git, base: str, tip: str) -> bytes:
    return git.run(
        "format-patch", "--full-index", "--no-signature", "--zero-commit", "--stdout",
        f"{base}..{tip}",
    ).stdout
