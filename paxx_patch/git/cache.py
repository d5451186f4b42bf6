"""Bare repositories that cache bundle sources, and trees read out of them.

Each source URL gets one bare repository under the cache directory, named by a
hash of the URL. git runs there with GIT_DIR set (never in the user's repository
or in the source's), only the transports a bundle source may use are allowed, and
nothing a source holds is executed: its files are read as blobs and written out.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from paxx_patch.git.repo import Git, clean_env
from paxx_patch.runtime.errors import PaxxError
from paxx_patch.runtime.paths import path_problem

# remote helpers such as `ext::` run commands: only plain transports may fetch
ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
# a bundle is a few small text files; a source tree far beyond that is refused
MAX_FILES = 2000
MAX_BYTES = 50 * 1024 * 1024
_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "paxx-patch"


def _git(directory: Path) -> Git:
    env = clean_env()
    env["GIT_DIR"] = str(directory)
    env["GIT_ALLOW_PROTOCOL"] = ALLOWED_PROTOCOLS
    return Git(top=directory, git_dir=directory, env=env)


@dataclass(frozen=True)
class CachedSource:
    """The cache of one source URL (`location` is what git fetches)."""

    location: str

    @property
    def directory(self) -> Path:
        key = hashlib.sha256(self.location.encode()).hexdigest()[:24]
        return cache_root() / "repos" / f"{key}.git"

    def exists(self) -> bool:
        return (self.directory / "HEAD").is_file()

    def fetch(self) -> None:
        """Fetch every branch and tag; a new cache appears only once a fetch succeeded."""
        target = self.directory
        if self.exists():
            self._fetch_into(target)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fresh = Path(tempfile.mkdtemp(prefix="new-", dir=target.parent))
        try:
            _git(fresh).run("init", "-q", "--bare", "--template=")
            (fresh / "paxx-patch-source").write_text(self.location + "\n", encoding="utf-8")
            self._fetch_into(fresh)
            try:
                os.rename(fresh, target)
            except OSError:  # another run made it meanwhile: theirs is as good
                if not self.exists():
                    raise
        finally:
            shutil.rmtree(fresh, ignore_errors=True)

    def _fetch_into(self, directory: Path) -> None:
        proc = _git(directory).run(
            "fetch", "-q", "--prune", "--no-recurse-submodules", "--", self.location,
            *_REFSPECS, check=False,
        )
        if proc.returncode != 0:
            lines = proc.stderr.decode(errors="replace").strip().splitlines()
            why = lines[-1] if lines else f"git exited with {proc.returncode}"
            raise PaxxError(
                f"cannot fetch the bundle source {self.location}: {why}. Check the URL, "
                "your network and your access to it"
                + (" (or pass --offline to use the copy cached earlier)" if self.exists() else "")
                + "; nothing was changed."
            )

    def resolve(self, rev: str) -> str | None:
        """The commit `rev` (a tag, branch or commit id) names in the cache, or None."""
        if not self.exists():
            return None
        git = _git(self.directory)
        for candidate in (f"refs/tags/{rev}", f"refs/heads/{rev}", rev):
            proc = git.run("rev-parse", "--verify", "-q", "--end-of-options",
                           f"{candidate}^{{commit}}", check=False)
            if proc.returncode == 0:
                return proc.stdout.decode().strip()
        return None

    def tags(self) -> dict[str, str]:
        """Tag name -> commit, for the tags that point at commits."""
        if not self.exists():
            return {}
        out = _git(self.directory).out(
            "for-each-ref", "--format=%(refname:strip=2) %(objecttype) %(objectname) "
            "%(*objecttype) %(*objectname)", "refs/tags/",
        )
        found = {}
        for line in out.splitlines():
            name, kind, oid, *peeled = line.split()
            if kind == "commit":
                found[name] = oid
            elif peeled[:1] == ["commit"]:  # an annotated tag of a commit
                found[name] = peeled[1]
        return found

    def read_file(self, commit: str, path: str) -> bytes | None:
        proc = _git(self.directory).run("cat-file", "blob", f"{commit}:{path}", check=False)
        return proc.stdout if proc.returncode == 0 else None

    def has_tree(self, commit: str, path: str) -> bool:
        proc = _git(self.directory).run("cat-file", "-t", f"{commit}:{path}", check=False)
        return proc.stdout.strip() == b"tree"

    def list_dir(self, commit: str, path: str) -> list[str]:
        proc = _git(self.directory).run("ls-tree", "-z", "--name-only", f"{commit}:{path}", check=False)
        return [n.decode(errors="replace") for n in proc.stdout.split(b"\0") if n]

    def export(self, commit: str, path: str, destination: Path) -> None:
        """Write the tree `commit:path` into `destination` (a new directory): regular
        files as files, symbolic links as links (for the bundle checks to judge),
        nothing else. Paths are checked like every path a bundle names."""
        where = f"{self.location} at {commit[:12]}"
        git = _git(self.directory)
        spec = f"{commit}:{path}" if path else f"{commit}^{{tree}}"
        listing = git.run("ls-tree", "-r", "-z", "--full-tree", spec).stdout
        entries = []
        total = 0
        for record in listing.split(b"\0"):
            if not record:
                continue
            meta, _, raw_name = record.partition(b"\t")
            mode, kind, oid = meta.decode().split()
            try:
                name = raw_name.decode()
            except UnicodeDecodeError:
                raise PaxxError(f"{where}: a file name in {path or 'the root'} is not UTF-8; "
                                "a bundle's files need plain names.") from None
            problem = path_problem(name)
            if problem:
                raise PaxxError(f"{where}: the bundle file {name!r} {problem}; the source "
                                "cannot be used.")
            if kind == "blob":
                entries.append((mode, oid, name))
        if len(entries) > MAX_FILES:
            raise PaxxError(f"{where}: {path or 'the repository'} holds {len(entries)} files; a "
                            f"bundle may hold at most {MAX_FILES}. Point at a smaller directory.")
        contents = _cat_blobs(git, [oid for _, oid, _ in entries])
        destination.mkdir(parents=True)
        links = []
        for mode, oid, name in entries:
            data = contents[oid]
            total += len(data)
            if total > MAX_BYTES:
                raise PaxxError(f"{where}: the bundle is larger than {MAX_BYTES // 2**20} MiB; "
                                "a bundle holds small text files.")
            if mode == "120000":
                links.append((name, data))
                continue
            file = destination / name
            file.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: a name listed twice (a malformed tree) is refused, not written twice
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        # links last, so that no file is written through one
        for name, target in links:
            link = destination / name
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.fsdecode(target), link)


def _cat_blobs(git: Git, oids: list[str]) -> dict[str, bytes]:
    result = git.cat_blobs(oids)
    missing = next((oid for oid in oids if oid not in result), None)
    if missing is not None:
        raise PaxxError(f"the cached source lacks the object {missing}; delete {git.git_dir} "
                        "and run again to fetch it afresh.")
    return result
