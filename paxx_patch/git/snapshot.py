"""The sparse tree: only the paths the mutators read or write, from the base commit.

Nothing is checked out: each path's mode and bytes come from the base commit's
objects (one `ls-tree` and one `cat-file --batch` per batch of paths), so the
cost follows the number of paths touched, not the size of the repository.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

from paxx_patch.git.repo import CatFile, Git
from paxx_patch.runtime.errors import PaxxError

REGULAR = "100644"


class Snapshot:
    def __init__(self, git: Git, base: str) -> None:
        self.git = git
        self.base = base
        # path -> (mode, content) in the base commit; mode None: not read yet
        self._base: dict[str, tuple[str | None, bytes] | None] = {}
        self._current: dict[str, bytes | None] = {}
        self._objects = CatFile(git)  # one process for every read of the run
        weakref.finalize(self, self._objects.close)
        self._listing: str | None = None

    def listing(self) -> str:
        """Every file path of the base commit, NUL-separated: one `ls-tree -r`, kept."""
        if self._listing is None:
            out = self.git.run("ls-tree", "-r", "-z", "--name-only", "--full-tree", self.base).stdout
            self._listing = out.decode("utf-8", errors="surrogateescape")
        return self._listing

    def load(self, paths: Iterable[str]) -> None:
        """Read `paths` of the base commit from the run's one `cat-file --batch`, by
        `BASE:PATH` (their modes are read later, for the paths written: `mode`). A name
        with a newline in it, which that protocol cannot carry, goes through `ls-tree -z`."""
        missing = sorted({p for p in paths if p not in self._base})
        if not missing:
            return
        for path in (p for p in missing if "\n" not in p and "\r" not in p):
            found = self._objects.get(f"{self.base}:{path}")
            self._base[path] = None if found is None or found[0] != b"blob" else (None, found[1])
        odd = [p for p in missing if p not in self._base]
        if odd:
            self._listed(odd)

    def _entries(self, paths: list[str]) -> dict[str, tuple[str, str]]:
        """Path -> (mode, blob id) of those of `paths` that are files of the base commit."""
        return {path: (e.mode, e.oid) for path, e in self.git.entries(self.base, paths).items()
                if e.kind == "blob"}

    def _listed(self, paths: list[str]) -> None:
        """Mode and content of `paths` from `ls-tree -z` and the blobs it names."""
        found = self._entries(paths)
        contents = self.git.cat_blobs([oid for _, oid in found.values()])
        for path in paths:
            entry = found.get(path)
            self._base[path] = None if entry is None else (entry[0], contents[entry[1]])

    def base_content(self, path: str) -> bytes | None:
        self.load([path])
        entry = self._base[path]
        return None if entry is None else entry[1]

    def get(self, path: str) -> bytes | None:
        if path in self._current:
            return self._current[path]
        return self.base_content(path)

    def exists(self, path: str) -> bool:
        return self.get(path) is not None

    def mode(self, path: str) -> str:
        self.load([path])
        entry = self._base[path]
        if entry is not None and entry[0] is None:
            # the modes of every path read whose mode is not known yet, in one ls-tree
            unknown = sorted(p for p, e in self._base.items() if e is not None and e[0] is None)
            entries = self._entries(unknown)
            for p in unknown:
                content = self._base[p][1]  # type: ignore[index]
                self._base[p] = (entries.get(p, (REGULAR, ""))[0], content)
            entry = self._base[path]
        mode = REGULAR if entry is None or entry[0] is None else entry[0]
        if mode == "120000":
            raise PaxxError(
                f"{path} is a symbolic link; paxx-patch edits regular files only. "
                "Point [tool.paxx-patch] at the real file."
            )
        return mode

    def refuse_linked_parents(self, paths: Iterable[str]) -> None:
        """A directory on the way to a path that is a symbolic link in the base commit
        would be replaced by a real directory, or written through: refuse it."""
        paths = list(paths)
        parents = sorted({"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)})
        if not parents:
            return
        for link, entry in self.git.entries(self.base, parents).items():
            # git lists what a directory holds when a deeper path is asked for too
            if entry.mode == "120000" and link in parents:
                raise PaxxError(
                    f"{link} is a symbolic link in your last commit, and paxx-patch would "
                    f"write {min(p for p in paths if p.startswith(link + '/'))} through "
                    "it. Make it a real directory, or point [tool.paxx-patch] at the real "
                    "one (e.g. services_dir). Nothing was changed."
                )

    def read_blobs(self, oids: list[str]) -> dict[str, bytes]:
        """Contents of blobs by id (e.g. pristine files recorded in the lock)."""
        contents = self.git.cat_blobs(oids)
        absent = [o for o in oids if o not in contents]
        if absent:
            raise PaxxError(
                f"the repository lacks the pristine blob {absent[0]} recorded in the lock. "
                "Fetch it: `git fetch origin 'refs/paxx-patch/*:refs/paxx-patch/*'` (kept there "
                "after a merged update), or the full history of a shallow clone; then run again."
            )
        return contents

    def rebase(self, changes: dict[str, bytes]) -> None:
        """Treat `changes` as part of the base (the three-way base commit A)."""
        self.load(changes)
        for path, content in changes.items():
            entry = self._base[path]
            self._base[path] = (entry[0] if entry else REGULAR, content)

    def set(self, path: str, content: bytes | None) -> None:
        self._current[path] = content

    def changed(self) -> dict[str, bytes | None]:
        """Every path whose content differs from the base commit."""
        return {p: c for p, c in self._current.items() if c != self.base_content(p)}
