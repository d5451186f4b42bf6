"""Paths that come from a lock, a bundle or configuration: normalised, kept inside.

Every such path is data someone else wrote. Before paxx-patch reads or writes
one it goes through `clean_relative`, which returns the normalised posix form or
raises a PaxxError saying which file, which key and what is wrong. The rules
are git's own limits plus the one that matters most here: nothing may reach
outside the project (`..`, absolute paths, a drive letter) or into `.git`.

The pre-commit hook imports this module: standard library only, nothing heavy.
"""

from __future__ import annotations

import os
import posixpath

from paxx_patch.runtime.errors import PaxxError

TYPE_CHECKING = False  # `typing` costs the hook time to import; type checkers know this name
if TYPE_CHECKING:
    from pathlib import Path

_MAX_LENGTH = 1024


def _is_dot_git(part: str) -> bool:
    # git refuses these too (fsck, checkout): `.git` in any case, with the trailing
    # dots or spaces Windows ignores, and its NTFS short name
    bare = part.rstrip(". ").lower()
    return bare == ".git" or part.lower().startswith("git~1")


def path_problem(path: object, may_climb: bool = False) -> str:
    """Why `path` is not a safe relative path ("" when it is).

    With `may_climb`, leading `..` components are allowed (a compose file one
    directory above the project in a monorepo); the caller joins the result to
    its root with `paxx_patch.discover.project.join`, which refuses to leave the repository.
    """
    if not isinstance(path, str):
        return "is not a string"
    if not path:
        return "is empty"
    if len(path) > _MAX_LENGTH:
        return f"is longer than {_MAX_LENGTH} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "contains a control character (NUL, newline, ...)"
    if "\\" in path:
        return "contains a backslash; write paths with forward slashes"
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return "is absolute; write it relative to the project directory"
    normal = posixpath.normpath(path)
    if normal == ".":
        return "names the project directory itself, not a file in it"
    parts = normal.split("/")
    climbing = [p for p in parts if p == ".."]
    if climbing and (not may_climb or parts[: len(climbing)] != climbing):
        return "climbs out with `..`; use a path inside the project"
    if climbing and len(climbing) == len(parts):
        return "names a directory above the project, not a file"
    if any(_is_dot_git(p) for p in parts):
        return "is inside `.git`, which paxx-patch never reads or writes"
    return ""


def clean_relative(path: object, where: str, may_climb: bool = False) -> str:
    """`path` normalised, or a PaxxError naming `where` (e.g. `bundle.toml: key ...`)."""
    problem = path_problem(path, may_climb)
    if problem:
        raise PaxxError(f"{where}: {path!r} {problem}.")
    return posixpath.normpath(str(path))


def symlinked_parent(top: str, relative: str) -> str:
    """The first directory on the way from `top` to `relative` that is a symbolic
    link ("" if none). git does not follow such a link, and neither may paxx-patch:
    it could lead anywhere on the machine. The last component may be a link (git
    stores a link as a blob of its target and paxx-patch reads it that way)."""
    here = top
    parts = relative.split("/")
    for depth, part in enumerate(parts[:-1], start=1):
        here = os.path.join(here, part)
        if os.path.islink(here):
            return "/".join(parts[:depth])
    return ""


def refuse_links_out(directory: Path) -> None:
    """Nothing a bundle names may lead out of its directory: a symlinked file or
    `templates/` would let a bundle put /etc/passwd (or anything) into a commit.
    A link that stays inside the bundle is fine; so is a symlinked bundle directory,
    which is the one the user named."""
    from pathlib import Path  # not needed by the hook, which imports this module

    try:
        top = directory.resolve(strict=True)
    except (OSError, RuntimeError) as e:
        raise PaxxError(f"{directory}: cannot read the bundle directory: {e}") from e
    if (directory / "templates").is_symlink():
        raise PaxxError(
            f"{directory / 'templates'} is a symbolic link; a bundle's templates must be "
            "real files inside its directory. Copy them in."
        )
    for here, dirs, files in os.walk(top):
        for name in (*dirs, *files):
            entry = Path(here, name)
            if not entry.is_symlink():
                continue
            try:
                target = entry.resolve(strict=True)
            except (OSError, RuntimeError):
                target = None
            if target is None or not target.is_relative_to(top):
                raise PaxxError(
                    f"{entry} is a symbolic link leading out of the bundle directory "
                    f"{directory} (or nowhere); a bundle may only use its own files. "
                    "Replace the link with the file itself."
                )
