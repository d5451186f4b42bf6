"""New objects wait in a quarantine until the change lands, as git's own
receive-pack keeps a push's objects.

Inside `quarantine(git)`, every git process the run starts in the repository
writes its new objects to a directory of its own in the object store
(`GIT_OBJECT_DIRECTORY`) and reads the store itself as an alternate. `publish()`
moves them into the store — loose objects, then packs before their indexes, as
git does — and sets the refs the run keeps, right before the first ref or
working-tree change that needs them. A run that refuses or fails before that
removes the directory: the repository holds not one object more. A directory a
killed run left behind is removed by the next run (`prune_stale`).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from paxx_patch.git.repo import Git

PREFIX = "incoming-paxx-patch-"
_PACK_ORDER = {".pack": 0, ".rev": 1, ".idx": 2}  # an index never names a pack not yet there


def common_dir(git_dir: Path) -> Path:
    """Where refs and objects live: a linked worktree's are its main repository's."""
    try:
        common = (git_dir / "commondir").read_text().strip()
    except FileNotFoundError:
        return git_dir
    return (git_dir / common).resolve()


def object_store(git_dir: Path) -> Path:
    return common_dir(git_dir) / "objects"


class Quarantine:
    def __init__(self, git: Git, directory: Path, store: Path) -> None:
        self.git = git
        self.directory = directory
        self.store = store
        self.refs: dict[str, str] = {}  # ref -> object id, created when published
        self.published = False

    def publish(self) -> None:
        """Move the new objects into the store and create the kept refs; from here on
        git runs against the store alone. Repeating it does nothing."""
        if self.published:
            return
        _migrate(self.directory, self.store)
        self._release()
        self.published = True
        if self.refs:
            lines = "".join(f"create {ref} {oid}\n" for ref, oid in self.refs.items())
            self.git.run("update-ref", "--stdin", input=lines.encode())

    def _release(self) -> None:
        self.git.env.pop("GIT_OBJECT_DIRECTORY", None)
        self.git.env.pop("GIT_ALTERNATE_OBJECT_DIRECTORIES", None)
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def quarantine(git: Git) -> Iterator[Quarantine]:
    """`git` (its environment) writes new objects to a quarantine for the block."""
    store = object_store(git.git_dir)
    directory = store / f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    directory.mkdir()
    held = Quarantine(git, directory, store)
    git.env["GIT_OBJECT_DIRECTORY"] = str(directory)
    git.env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = str(store)
    try:
        yield held
    finally:
        if not held.published:
            held._release()


def _migrate(source: Path, store: Path) -> None:
    packs: list[Path] = []
    for entry in os.scandir(source):
        if entry.name == "pack":
            packs = [Path(p.path) for p in os.scandir(entry.path) if p.is_file()]
        elif len(entry.name) == 2 and entry.is_dir():  # loose objects: xx/yyyy…
            target = store / entry.name
            target.mkdir(exist_ok=True)
            for obj in os.scandir(entry.path):
                _move(Path(obj.path), target / obj.name)
    if packs:
        (store / "pack").mkdir(exist_ok=True)
    for pack in sorted(packs, key=lambda p: _PACK_ORDER.get(p.suffix, 3)):
        _move(pack, store / "pack" / pack.name)


def _move(source: Path, target: Path) -> None:
    """Objects are named by their content: one already there is the same object."""
    if not target.exists():
        os.rename(source, target)


def prune_stale(git_dir: Path, alive: Callable[[int], bool]) -> None:
    """Quarantines of runs that are gone: what they held was never published."""
    store = object_store(git_dir)
    try:
        entries = [e for e in os.scandir(store) if e.name.startswith(PREFIX)]
    except FileNotFoundError:
        return
    for entry in entries:
        pid = entry.name[len(PREFIX):].split("-")[0]
        if not pid.isdigit() or not alive(int(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)
