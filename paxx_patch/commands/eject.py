"""paxx-patch eject: the user takes ownership of component files, in a commit of its own."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from paxx_patch.commands.common import open_project
from paxx_patch.discover.project import join
from paxx_patch.git.snapshot import Snapshot
from paxx_patch.manifest import LOCK_NAME, decode_lock, parse_lock
from paxx_patch.plan.engine import Kind, Output, Plan, PlannedCommit, deliver, exclusive
from paxx_patch.runtime.errors import PaxxError


def eject(*, name: str, files: Sequence[str], project_dir: str | None, cwd: Path | None = None) -> int:
    here = (cwd or Path.cwd()).resolve()
    git, base, root = open_project(cwd, project_dir)
    with exclusive(git):
        # only the lock is needed: no project discovery, so eject works on any layout
        plan = Plan(Snapshot(git, base))
        lock_file = join(root, LOCK_NAME)
        raw = plan.snapshot.get(lock_file)
        lock = parse_lock(decode_lock(raw, lock_file), lock_file)
        if name not in lock.components:
            installed = ", ".join(sorted(lock.components)) or "none"
            raise PaxxError(f"{name} is not installed here (installed: {installed}).")
        record = lock.components[name]
        chosen = [_owned(record.files, f, here, git.top, root) for f in files] or sorted(record.files)
        fresh = [f for f in chosen if f not in record.ejected]
        if not fresh:
            print(f"{', '.join(chosen)}: already yours; nothing to do.")
            return 0
        record.ejected = sorted({*record.ejected, *fresh})
        new = lock.dumps().encode()
        plan.snapshot.set(lock_file, new)
        plan.commits.append(PlannedCommit(
            name, record.version, "eject", f"eject {', '.join(fresh)}", {lock_file: new},
        ))
        output = Output(Kind.COMMIT, only=True)
        for line in deliver(git, base, plan, output, ""):
            print(line)
        print(f"{', '.join(fresh)}: yours now; `paxx-patch verify` no longer checks "
              f"{'it' if len(fresh) == 1 else 'them'}.")
    return 0


def _owned(files: dict[str, str], given: str, cwd: Path, top: Path, root: str) -> str:
    """The lock's name for `given` (as recorded, or a path from the cwd)."""
    if given in files:
        return given
    try:
        repo_path = (cwd / given).resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        repo_path = given
    relative = repo_path[len(root) + 1 :] if root and repo_path.startswith(root + "/") else repo_path
    if relative in files:
        return relative
    raise PaxxError(
        f"{given} is not a file of this component; its files are: {', '.join(sorted(files))}."
    )
