"""Build a chain of commits on a base with one `git fast-import` run.

fast-import writes blobs, trees and commits without an index or a working
tree, reads only the base trees along the paths it changes, runs no hooks and
signs nothing. It updates no ref: its branch is reset to nothing at the end of
the stream, and the commits are known by the marks it exports. Until they land
they sit in the run's quarantine (`quarantine.py`), where `gc` does not look.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from paxx_patch.git.repo import Git
from paxx_patch.runtime.errors import GitError, PaxxError, git_failed

REF_PREFIX = "refs/paxx-patch/"
_STREAM_REF = b"refs/paxx-patch/fast-import"  # named in the stream, never written


@dataclass(frozen=True)
class CommitSpec:
    message: str
    changes: Mapping[str, bytes | None]  # path -> new content, None = delete
    modes: Mapping[str, str]  # path -> mode for the paths written


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def build_commits(
    git: Git,
    base: str | None,
    specs: Sequence[CommitSpec],
    author: str,
    committer: str,
) -> list[str]:
    """Create the commits of `specs` in order on `base`; return their ids."""
    if not specs:
        return []
    if base is not None:
        _refuse_files_in_the_way(git, base, specs)
    stream = bytearray(b"feature done\n")
    for mark, spec in enumerate(specs, start=1):
        stream += b"commit %s\nmark :%d\n" % (_STREAM_REF, mark)
        stream += b"author %s\ncommitter %s\n" % (author.encode(), committer.encode())
        stream += _data(spec.message.encode())
        if mark > 1:
            stream += b"from :%d\n" % (mark - 1)
        elif base is not None:  # None: a root commit
            stream += b"from %s\n" % base.encode()
        for path, content in spec.changes.items():
            quoted = _quote(path)
            if content is None:
                stream += b"D %s\n" % quoted
            else:
                stream += b"M %s inline %s\n" % (spec.modes.get(path, "100644").encode(), quoted)
                stream += _data(content)
        stream += b"\n"
    stream += b"reset %s\n\ndone\n" % _STREAM_REF  # no `from`: the ref is not written
    with tempfile.TemporaryDirectory(prefix="paxx-patch-") as tmp:
        marks = os.path.join(tmp, "marks")
        proc = git.run("fast-import", "--quiet", "--done", f"--export-marks={marks}",
                       input=bytes(stream), check=False)
        if proc.returncode != 0:
            raise _fast_import_failed(git, proc.stderr, proc.returncode)
        with open(marks, encoding="ascii") as f:
            by_mark = dict(line.split() for line in f if line.strip())
    return [by_mark[f":{i}"] for i in range(1, len(specs) + 1)]


def _fast_import_failed(git: Git, stderr: bytes, returncode: int) -> GitError:
    """fast-import says why (`fatal: ...`), then where it dumped a crash report: the
    report is of its input, which is ours, so it goes, and the reason is what is told."""
    kept = []
    for line in stderr.decode(errors="replace").splitlines():
        report = line.partition("dumping crash report to ")[2]
        if not report:
            kept.append(line)
            continue
        path = (git.top / report.strip()).resolve()
        if path.parent == git.git_dir.resolve() and path.name.startswith("fast_import_crash_"):
            path.unlink(missing_ok=True)
    failed = git_failed(("fast-import", "--quiet"), "\n".join(kept).encode(), returncode)
    return GitError(f"{failed}. The commits could not be built; nothing was changed.")


def _refuse_files_in_the_way(git: Git, base: str, specs: Sequence[CommitSpec]) -> None:
    """fast-import replaces a file that stands where a directory must go without a
    word (`services` tracked as a file, or a symlink, when `services/cache.py` is
    written): refuse instead, so no commit deletes the user's file."""
    needed: dict[str, str] = {}  # directory -> a path written inside it
    for spec in specs:
        for path, content in spec.changes.items():
            if content is not None:
                parts = path.split("/")
                for depth in range(1, len(parts)):
                    needed.setdefault("/".join(parts[:depth]), path)
    if not needed:
        return
    for path, entry in git.entries(base, sorted(needed)).items():
        if path in needed and entry.kind != "tree":
            kind = "symbolic link" if entry.mode == "120000" else "file"
            raise PaxxError(
                f"{path} is a {kind} in your last commit, where {needed[path]} needs a "
                f"directory. Rename or move {path} (or set [tool.paxx-patch] services_dir to "
                "another directory) and run again. Nothing was changed."
            )


def files_commit(git: Git, files: Mapping[str, bytes], ident: str) -> str:
    """A root commit holding `files`: under a ref, their blobs stay in the repository
    (and can be fetched) even when no branch has them as they are."""
    return build_commits(git, None, [CommitSpec("paxx-patch: pristine files", files, {})],
                         ident, ident)[0]


def _quote(path: str) -> bytes:
    raw = path.encode("utf-8", errors="surrogateescape")
    if any(c in raw for c in b'"\\\n') or raw.startswith(b'"'):
        escaped = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")
        return b'"' + escaped + b'"'
    return raw
