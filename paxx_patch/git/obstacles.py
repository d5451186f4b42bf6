"""What stops a change from landing in the user's checkout, found before anything moves.

Each check only reads. Landing (`paxx_patch.git.land`) runs them with git's
index lock held, so what they saw is what it changes.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Collection, Sequence
from pathlib import Path

from paxx_patch.git.repo import Git
from paxx_patch.runtime.errors import PaxxError

# git directory entry -> (what is in progress, how to finish it, how to abort it)
_IN_PROGRESS = (
    ("rebase-merge", "a rebase", "git rebase --continue", "git rebase --abort"),
    ("rebase-apply", "a rebase or `git am`", "git rebase --continue` or `git am --continue",
     "git rebase --abort` or `git am --abort"),
    ("MERGE_HEAD", "a merge", "git commit", "git merge --abort"),
    ("CHERRY_PICK_HEAD", "a cherry-pick", "git cherry-pick --continue", "git cherry-pick --abort"),
    ("REVERT_HEAD", "a revert", "git revert --continue", "git revert --abort"),
    ("sequencer", "a cherry-pick or revert", "git cherry-pick --continue",
     "git cherry-pick --abort"),
    ("BISECT_LOG", "a bisect", "git bisect reset", "git bisect reset"),
)


_ELSEWHERE = ", or use --branch NAME or -o DIR, which leave your checkout alone"


def _elsewhere(offered: bool) -> str:
    """The way around a refusal that the other outputs give, where the command has them
    (eject commits on the current branch or not at all)."""
    return _ELSEWHERE if offered else ""


def refuse_in_progress(git: Git, elsewhere: bool = True) -> None:
    """A rebase, merge, cherry-pick, revert or bisect owns HEAD: commits landed now
    would go where the operation puts them (a rebase's detached HEAD, dropped by
    `--abort`), not on the user's branch."""
    for entry, what, finish, abort in _IN_PROGRESS:
        if os.path.lexists(git.git_dir / entry):
            raise PaxxError(
                f"{what} is in progress in {git.top} ({git.git_dir / entry} exists), and "
                "--commit would land on top of it. Finish it (`"
                f"{finish}`) or abort it (`{abort}`) first{_elsewhere(elsewhere)}. "
                "Nothing was changed."
            )


def refuse_dirty(git: Git, paths: Sequence[str], elsewhere: bool = True) -> None:
    """Touched paths with staged or unstaged changes, or held by an untracked or
    ignored file: the change would overwrite them."""
    if not paths:
        return
    out = git.run(
        "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all",
        "--ignored", "--no-renames", "--", *paths,
    ).stdout
    changed: list[str] = []
    untracked: list[str] = []
    ignored: list[str] = []
    for entry in out.split(b"\0"):
        if not entry:
            continue
        path = os.fsdecode(entry[3:])
        {b"??": untracked, b"!!": ignored}.get(entry[:2], changed).append(path)
    if untracked or ignored:
        listing = "\n".join(
            [f"  {p} (untracked)" for p in sorted(untracked)]
            + [f"  {p} (ignored by .gitignore, but present)" for p in sorted(ignored)]
        )
        raise PaxxError(
            "these files are in the way of the change, and git does not track them:\n"
            f"{listing}\nMove or rename them (or commit them) first{_elsewhere(elsewhere)}. "
            "Nothing was changed."
        )
    if changed:
        listing = "\n".join(f"  {p}" for p in sorted(changed))
        raise PaxxError(
            "these files would be changed but have uncommitted changes:\n"
            f"{listing}\n"
            f"Commit or stash them first (`git stash`){_elsewhere(elsewhere)}. "
            "Nothing was changed."
        )


def refuse_in_the_way(
    top: Path, changed: Sequence[str], written: Collection[str], tracked: Collection[str],
    elsewhere: bool = True,
) -> list[str]:
    """Check the working tree along the paths to change; return the directories that
    must be created for the `written` ones (parents first).

    Refused: anything at a path the base commit lacks (git status misses empty
    directories and symlinks to them); a symlink or a file where a directory is
    needed; a directory paxx-patch cannot write in.
    """
    new_dirs: list[str] = []
    problems: list[str] = []
    for path in changed:
        full = top / path
        if path not in tracked and os.path.lexists(full):
            kind = "symbolic link" if full.is_symlink() else "directory" if full.is_dir() else "file"
            problems.append(f"{path}: an untracked {kind} is there")
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            where = top / parent
            if where.is_symlink():
                problems.append(f"{parent}: a symbolic link where {path} needs a directory")
                break
            if where.exists() and not where.is_dir():
                problems.append(f"{parent}: a file where {path} needs a directory")
                break
            if not where.exists():
                if path in written and parent not in new_dirs:
                    new_dirs.append(parent)
                continue
        else:
            directory = _nearest_existing(top, posixpath.dirname(path))
            if not os.access(directory, os.W_OK | os.X_OK):
                problems.append(f"{path}: cannot write in {directory} (permission denied)")
    if problems:
        listing = "\n".join(f"  {p}" for p in dict.fromkeys(problems))
        raise PaxxError(
            f"the change cannot be written in your working tree:\n{listing}\n"
            "Move what is in the way (or fix the permissions) and run again"
            f"{_elsewhere(elsewhere)}. Nothing was changed."
        )
    return new_dirs


def _nearest_existing(top: Path, directory: str) -> Path:
    where = top / directory if directory else top
    while not where.exists() and where != top:
        where = where.parent
    return where


def refuse_other_file_systems(
    top: Path, changed: Sequence[str], staging: Path, elsewhere: bool = True
) -> None:
    """Files are swapped by rename, which cannot cross file systems (a mount point
    inside the working tree)."""
    device = os.stat(staging).st_dev
    crossing = [
        path for path in changed
        if os.stat(_nearest_existing(top, posixpath.dirname(path))).st_dev != device
    ]
    if crossing:
        raise PaxxError(
            f"{', '.join(crossing)}: on another file system than {top}, so paxx-patch cannot "
            f"swap them in one step{_elsewhere(elsewhere)}. Nothing was changed."
        )
