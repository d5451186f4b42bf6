"""Carry commits made on the pristine base A over to HEAD, in memory.

A differs from HEAD only in the owned files the user edited, so every other
path of every planned commit applies to HEAD as it is; the edited files get a
three-way merge (`git merge-file`: base = the pristine or previous render,
ours = the user's version, theirs = the new render). No index, no checkout:
the cost follows the files touched. When a merge conflicts, the caller falls
back to a real cherry-pick so git can leave the conflict for the user.
"""

from __future__ import annotations

import os
import tempfile

from paxx_patch.git.repo import Git
from paxx_patch.plan.engine import PlannedCommit


class Conflict(Exception):
    """A path could not be merged cleanly."""


def merge_file(git: Git, ours: bytes, base: bytes, theirs: bytes, path: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="paxx-patch-merge-") as tmp:
        names = []
        for label, content in (("ours", ours), ("base", base), ("theirs", theirs)):
            name = os.path.join(tmp, label)
            with open(name, "wb") as f:
                f.write(content)
            names.append(name)
        proc = git.run("merge-file", "-p", "-L", path, "-L", "pristine", "-L", "new", *names,
                       check=False)
    if proc.returncode != 0:
        raise Conflict(path)
    return proc.stdout


def carry_over(
    git: Git, commits: list[PlannedCommit], pristine: dict[str, bytes], head: dict[str, bytes | None]
) -> list[PlannedCommit]:
    """`commits` (made on A) rewritten to apply on HEAD; raises Conflict."""
    base: dict[str, bytes | None] = dict(pristine)  # each edited path as the chain has it
    ours = dict(head)  # ... and as the result has it
    carried = []
    for commit in commits:
        changes: dict[str, bytes | None] = {}
        for path, theirs in commit.changes.items():
            if path not in ours:
                changes[path] = theirs
                continue
            merged = _merge_one(git, path, ours[path], base[path], theirs)
            base[path] = theirs
            if merged != ours[path]:
                changes[path] = ours[path] = merged
        if changes:
            carried.append(PlannedCommit(commit.component, commit.version, commit.mutator,
                                         commit.subject, changes))
    return carried


def _merge_one(
    git: Git, path: str, ours: bytes | None, base: bytes | None, theirs: bytes | None
) -> bytes | None:
    if theirs == base:
        return ours
    if ours == base:
        return theirs
    if ours is None or base is None or theirs is None:
        raise Conflict(path)  # modify/delete: git's cherry-pick shows it properly
    return merge_file(git, ours, base, theirs, path)
