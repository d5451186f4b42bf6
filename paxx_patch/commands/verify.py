"""`paxx-patch verify`: the pre-commit hook that keeps component-owned files pristine.

It runs on every commit, so it imports only light standard modules, the lock, the
paths and the errors. Blob ids are computed here, with the hash of the ids the lock
records (SHA-1 or SHA-256), and pristine contents come from loose objects; git runs
only to confirm a mismatch the way git compares (line-end conversion), to read a
packed blob for a diff, or to compare the lock with the committed one.
"""

from __future__ import annotations

import os
import posixpath

from paxx_patch.git.batch import parse_batch
from paxx_patch.git.spawn import git_output
from paxx_patch.manifest import (
    LOCK_NAME,
    Lock,
    blob_id,
    decode_lock,
    object_format_of,
    parse_lock,
)
from paxx_patch.runtime.errors import GitError, PaxxError
from paxx_patch.runtime.paths import symlinked_parent

# `typing` costs the hook ~5 ms to import; type checkers know this name
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

DIFF_LINES = 40
# While one of these is in progress, the lock may take blob ids from its lock.
_IN_PROGRESS = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REBASE_HEAD")
_Record = tuple[str, str, str]  # component, path as the lock records it, blob id
_Problem = tuple[_Record, bytes | None]  # the record, and the file's content (None: missing)


def verify(*, files: Sequence[str] = (), project: str | None = None) -> int:
    """Exit 1 and explain when owned files differ from their pristine blobs; else 0, silent.

    `files` are relative to the cwd (pre-commit runs hooks from the repository root).
    Only owned files among them are compared; all are, with the lock, when the lock
    is among them or no file is given. A missing owned file is always reported: git
    passes no name for a deleted file, so this is the only way to notice one.
    """
    cwd = os.getcwd()
    root = _repo_root(cwd)
    if not os.path.lexists(os.path.join(root, ".git")):
        raise PaxxError(
            f"{cwd} is not inside a git repository, so there is nothing to verify: run "
            "`paxx-patch verify` from the repository whose paxx-patch.lock it checks (the "
            "pre-commit hook does)."
        )
    project_dir = os.path.normpath(os.path.join(cwd, project)) if project else root
    if not os.path.isdir(project_dir):
        raise PaxxError(f"--project {project}: no such directory.")
    lock_file = os.path.join(project_dir, LOCK_NAME)
    shown_lock = os.path.relpath(lock_file, cwd)
    try:
        with open(lock_file, "rb") as f:
            text = decode_lock(f.read(), shown_lock)
    except FileNotFoundError:
        return 0  # nothing installed here
    lock = parse_lock(text, where=shown_lock)

    prefix = _relative(root, project_dir)  # the lock's paths are relative to prefix
    selected = {_relative(root, os.path.join(cwd, name)) for name in files}
    check_all = not files or posixpath.join(prefix, LOCK_NAME) in selected
    problems: list[_Problem] = []
    for component in lock.components.values():
        for path, blob in sorted(component.verified_files().items()):
            full = os.path.join(project_dir, path)
            if symlinked_parent(project_dir, path):
                # git does not look past a symlinked directory, and the hook must not
                # read (or print) what it leads to: for git, the file is not there
                problems.append(((component.name, path, blob), None))
            elif check_all or posixpath.join(prefix, path) in selected:
                content = _read_worktree(full)
                if content is None or blob_id(content, object_format_of(blob)) != blob:
                    problems.append(((component.name, path, blob), content))
            elif not os.path.lexists(full):
                problems.append(((component.name, path, blob), None))
    try:
        problems = _as_git_sees_them(root, project_dir, problems)
        lock_problems = _audit_lock(root, prefix, lock, text, shown_lock) if check_all else []
        if problems:
            _report_files(problems, root, os.path.relpath(project_dir, cwd), project)
    except GitError as e:
        # exit 2, "could not check": a hook that blamed the user for a broken git
        # would be uninstalled, and rightly
        raise GitError(
            f"could not check the files of {shown_lock}, so nothing is known to be edited: "
            f"{str(e).rstrip('.')}. verify needs a git that can read this repository (on PATH, and with "
            "GIT_DIR, if set, naming it)."
        ) from None
    if lock_problems:
        print(f"{shown_lock} was edited by hand:", *lock_problems, sep="\n  ")
        print(
            f"Restore the committed lock with `git checkout HEAD -- {shown_lock}`: only "
            "paxx-patch writes it. To stop verifying a file, run `paxx-patch eject`."
        )
    return 1 if problems or lock_problems else 0


def _as_git_sees_them(root: str, project_dir: str, problems: list[_Problem]) -> list[_Problem]:
    """Drop the files whose bytes differ only the way git's checkout makes them differ.

    Under `core.autocrlf` or `text`/`eol` attributes (or a clean filter) the working
    tree holds converted bytes; git compares what it would store. So a mismatch of
    the raw bytes, and only that, is confirmed by `git hash-object --stdin-paths`,
    which applies the conversion for each path: the clean path runs no git at all.
    """
    changed = [((c, p, b), content) for (c, p, b), content in problems
               if content is not None and not os.path.islink(os.path.join(project_dir, p))]
    if not changed:
        return problems
    paths = [_relative(root, os.path.join(project_dir, p)) for (_, p, _), _ in changed]
    raw = git_output(root, ["hash-object", "--stdin-paths"], "".join(f"{p}\n" for p in paths).encode())
    out = raw.decode(errors="replace").split()
    if len(out) != len(changed):
        return problems
    same = {record for (record, _), oid in zip(changed, out, strict=True) if oid == record[2]}
    return [(record, content) for record, content in problems if record not in same]


def _report_files(problems: list[_Problem], root: str, shown_dir: str, project: str | None) -> None:
    from shlex import quote  # the names go into commands the user may paste

    pristine = _read_blobs(root, [blob for (_, _, blob), _ in problems])
    print("paxx-patch: files of installed components differ from what paxx-patch installed:")
    for (component, path, blob), content in problems:
        shown = os.path.normpath(os.path.join(shown_dir, path))
        print(f"  {shown} ({component}): {'missing' if content is None else 'modified'}")
        if content is not None:
            print(*_diff(pristine[blob], content, shown), sep="\n")
    print("\nEither restore what paxx-patch installed, then `git add` it:")
    for (_, path, blob), _ in problems:
        shown = os.path.normpath(os.path.join(shown_dir, path))
        if pristine[blob] is None:
            print(f"    git checkout HEAD -- {quote(shown)}    # if HEAD holds the installed version")
        else:
            print(f"    git cat-file blob {blob} > {quote(shown)}")
    print("or keep your change and stop verifying the file (it is then yours to maintain):")
    also = f" --project {quote(project)}" if project else ""
    for (component, path, _), _ in problems:
        print(f"    paxx-patch eject {component} {quote(path)}{also}")


def _diff(old: bytes | None, new: bytes, shown: str) -> list[str]:
    if old is None:
        return ["    (the installed content is not in this repository: no diff)"]
    if b"\0" in old or b"\0" in new:
        return ["    (binary content differs)"]
    import difflib  # only on failure: the hook's common path must start fast

    lines = list(
        difflib.unified_diff(
            old.decode(errors="replace").splitlines(),
            new.decode(errors="replace").splitlines(),
            f"{shown} (installed)",
            f"{shown} (now)",
            n=2,
            lineterm="",
        )
    )
    if len(lines) > DIFF_LINES:
        lines[DIFF_LINES:] = [f"... {len(lines) - DIFF_LINES} more diff lines"]
    return lines


def _audit_lock(root: str, prefix: str, lock: Lock, text: str, shown: str) -> list[str]:
    """Each blob id in the lock must be one paxx-patch committed.

    That the blob exists proves nothing: `git add` of an edited file stores its blob.
    So each record must equal one in the committed lock (HEAD), or in the lock of a
    merge, cherry-pick or rebase in progress: how `update` and `remove` land when a
    shared file conflicts. Records may only disappear through such an operation.
    """
    committed: list[set[_Record] | None] = []
    for raw in _git_objects(root, ["HEAD", *_IN_PROGRESS], posixpath.join(prefix, LOCK_NAME)):
        try:
            committed.append(None if raw is None else _records(parse_lock(raw.decode())))
        except (PaxxError, UnicodeDecodeError):
            committed.append(set())
    head, in_progress = committed[0] or set(), [r for r in committed[1:] if r is not None]
    mine = _records(lock)
    was = {(c, p): b for c, p, b in head}
    problems = []
    for c, p, b in sorted(mine - head.union(*in_progress)):
        line = text[: text.find(b)].count("\n") + 1
        problems.append(
            f"{shown}:{line}: {p} ({c}): blob id {b} was not recorded by paxx-patch "
            f"(the committed lock has {was.get((c, p), 'none')})"
        )
    kept = {(c, p) for c, p, _ in mine}
    kept |= {(c.name, p) for c in lock.components.values() for p in c.ejected}
    for c, p, b in sorted(head - mine):
        if (c, p) not in kept and all((c, p, b) in r for r in in_progress):
            problems.append(f"{shown}: {p} ({c}) was dropped from the lock")
    return problems


def _records(lock: Lock) -> set[_Record]:
    return {(c.name, p, b) for c in lock.components.values() for p, b in c.files.items()}


def _read_blobs(root: str, ids: Sequence[str]) -> dict[str, bytes | None]:
    """Blob contents by id: loose objects directly, the rest with one git process."""
    import zlib  # only to show a diff

    found: dict[str, bytes | None] = {}
    objects = _objects_dir(root)
    for oid in ids:
        try:
            with open(os.path.join(objects, oid[:2], oid[2:]), "rb") as f:
                header, _, body = zlib.decompress(f.read()).partition(b"\0")
            found[oid] = body if header.startswith(b"blob ") else None
        except (OSError, zlib.error):
            found[oid] = None
    packed = [oid for oid, body in found.items() if body is None]
    found.update(zip(packed, _git_objects(root, packed), strict=True))
    return found


def _git_objects(root: str, revs: Sequence[str], path: str = "") -> list[bytes | None]:
    """`git cat-file --batch` for each rev (or `rev:path`); None for what git lacks."""
    if not revs:
        return []
    specs = [f"{rev}:{path}" if path else rev for rev in revs]
    out = git_output(root, ["cat-file", "--batch"], "".join(s + "\n" for s in specs).encode())
    return [found[1] if found is not None and found[0] == b"blob" else None
            for found in parse_batch(out, len(specs))]


def _read_worktree(path: str) -> bytes | None:
    try:
        if os.path.islink(path):  # git stores a symlink as a blob of its target
            return os.fsencode(os.readlink(path))
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _repo_root(cwd: str) -> str:
    """The nearest directory holding `.git` (a directory, or a file in a worktree)."""
    here = cwd
    while not os.path.lexists(os.path.join(here, ".git")):
        if os.path.dirname(here) == here:
            return cwd
        here = os.path.dirname(here)
    return here


def _objects_dir(root: str) -> str:
    git_dir = os.path.join(root, ".git")
    try:
        if os.path.isfile(git_dir):  # a linked worktree or a submodule: "gitdir: <path>"
            with open(git_dir) as f:
                git_dir = os.path.join(root, f.read().partition("gitdir:")[2].strip())
        with open(os.path.join(git_dir, "commondir")) as f:  # a linked worktree's repo
            git_dir = os.path.join(git_dir, f.read().strip())
    except OSError:
        pass
    return os.path.join(git_dir, "objects")


def _relative(root: str, path: str) -> str:
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    return "" if rel == "." else rel
