"""The project's package locks (uv.lock, poetry.lock, pdm.lock), refreshed with their lockers.

When the dependencies commit changes the dependency file, every lock file of a known
locker in its directory or a directory above it is either refreshed in the same commit
or named in a warning with the exact command: a lock beside an edited pyproject.toml by
its locker, run on a temporary copy of the few files it reads (never on the user's
checkout), without upgrading anything else; when the locker is not installed or fails
(offline, say), the change still lands and the warning names the command. A lock the
copy cannot be made for (the lock of a workspace or of a project above, which reads
other projects' files too) and a lock beside a requirements file its locker does not
read are always named.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from paxx_patch.git.snapshot import Snapshot

LOCKER_TIMEOUT = 300  # seconds; resolving against an index can be slow, but not forever


@dataclass(frozen=True)
class Locker:
    lock_name: str
    program: str
    command: tuple[str, ...]  # run in the project directory; keeps existing pins
    install: str  # what the user runs to install the new dependencies
    inputs: tuple[str, ...]  # files beside the dependency file the locker reads
    # settings for the run on the temporary copy: Poetry makes a virtualenv for the
    # project it locks, named after its directory and by default kept in the user's
    # cache; one made for the copy would never be used again, so it goes into the copy
    environment: tuple[tuple[str, str], ...] = ()

    def shown(self, directory: str) -> str:
        run = " ".join(self.command)
        return f"cd {directory} && {run}" if directory else run


LOCKERS = (
    Locker("uv.lock", "uv", ("uv", "lock"), "uv sync",
           ("pyproject.toml", "uv.toml", ".python-version", "README.md")),
    Locker("poetry.lock", "poetry", ("poetry", "lock"), "poetry install",
           ("pyproject.toml", "poetry.toml", "README.md"),
           (("POETRY_VIRTUALENVS_IN_PROJECT", "true"),)),
    Locker("pdm.lock", "pdm", ("pdm", "lock", "--update-reuse"), "pdm install",
           ("pyproject.toml", "pdm.toml", "README.md"), (("PDM_VENV_IN_PROJECT", "true"),)),
)


def find_locker(snapshot: Snapshot, dependency_file: str) -> Locker | None:
    """The locker whose lock file sits beside a pyproject.toml dependency file."""
    path = PurePosixPath(dependency_file)
    if path.name != "pyproject.toml":
        return None
    directory = str(path.parent) if str(path.parent) != "." else ""
    for locker in LOCKERS:
        if snapshot.exists(_join(directory, locker.lock_name)):
            return locker
    return None


def project_locks(snapshot: Snapshot, dependency_file: str) -> list[tuple[str, Locker]]:
    """Every lock file of a known locker beside the dependency file or in a directory
    above it up to the repository root, the nearest first."""
    found = []
    for parent in PurePosixPath(dependency_file).parents:
        directory = "" if str(parent) == "." else str(parent)
        found += [(_join(directory, locker.lock_name), locker) for locker in LOCKERS
                  if snapshot.exists(_join(directory, locker.lock_name))]
    return found


def refresh_all(
    snapshot: Snapshot, dependency_file: str, run_lockers: bool, requirements: list[str],
    removing: bool,
) -> Refresh:
    """Each lock file that the dependency file's change concerns: refreshed, or named in a
    warning with the command that refreshes it. `requirements` are the ones added (or,
    `removing`, taken out) for the command that moves them where a locker reads them."""
    path = PurePosixPath(dependency_file)
    directory = "" if str(path.parent) == "." else str(path.parent)
    result = Refresh({})
    for lock_path, locker in project_locks(snapshot, dependency_file):
        here = str(PurePosixPath(lock_path).parent)
        here = "" if here == "." else here
        if here == directory and path.name == "pyproject.toml":
            if not run_lockers:
                result.warnings.append(f"{lock_path} was not refreshed (--no-lock). Run "
                                       f"`{locker.shown(directory)}` and commit {lock_path}.")
                continue
            one = refresh(snapshot, dependency_file, locker)
            result.warnings += one.warnings
            result.changes.update(one.changes)
            for changed, content in one.changes.items():
                snapshot.set(changed, content)
        elif here == directory:
            result.warnings.append(_not_read(lock_path, locker, dependency_file, requirements, removing))
        else:
            result.warnings.append(_above(snapshot, lock_path, locker, here, dependency_file))
    return result


def _not_read(
    lock_path: str, locker: Locker, dependency_file: str, requirements: list[str], removing: bool,
) -> str:
    """A lock beside a requirements file: its locker reads pyproject.toml, not that file."""
    directory = str(PurePosixPath(lock_path).parent)
    verb = "remove" if removing else "add"
    names = [shlex.quote(r) for r in requirements] if not removing else [
        re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0] for r in requirements]
    command = f"{locker.program} {verb} {' '.join(names)}" if names else " ".join(locker.command)
    shown = f"cd {directory} && {command}" if directory != "." else command
    return (f"{lock_path} was not refreshed: the dependencies changed in {dependency_file}, which "
            f"{locker.program} does not read, so the lock does not have them. If "
            f"{locker.program} installs this project, run `{shown}` and commit {lock_path}.")


def _above(snapshot: Snapshot, lock_path: str, locker: Locker, directory: str, dependency_file: str) -> str:
    """A lock in a directory above the dependency file: a workspace's, or a project's that
    depends on this one by path. It reads other projects' files too, so it is named."""
    run = locker.shown(directory)
    member = PurePosixPath(dependency_file).parent.relative_to(directory or ".").as_posix()
    pyproject = snapshot.get(_join(directory, "pyproject.toml")) or b""
    if locker.program == "uv" and b"[tool.uv.workspace]" in pyproject:
        return (f"{lock_path} (the lock of the workspace {dependency_file} is a member of) was "
                f"not refreshed; it no longer matches the new dependencies. Run `{run}` and "
                f"commit {lock_path}.")
    if member.encode() in pyproject:
        return (f"{lock_path} (the lock of {_join(directory, 'pyproject.toml')}, which names "
                f"{member}/) was not refreshed; it no longer matches the new dependencies. Run "
                f"`{run}` and commit {lock_path}.")
    return (f"{lock_path} (in a directory above {dependency_file}) was not refreshed; if it locks "
            f"{member}/ too, it no longer matches the new dependencies: run `{run}` and commit "
            f"{lock_path}.")


def install_command(snapshot: Snapshot, dependency_file: str, style: str) -> str:
    """How this project installs its dependencies, for the next steps."""
    locker = find_locker(snapshot, dependency_file)
    if locker is not None:
        return locker.install
    if style == "poetry":
        return "poetry install"
    if style == "requirements":
        return f"pip install -r {PurePosixPath(dependency_file).name}"
    return "pip install -e ."


@dataclass
class Refresh:
    changes: dict[str, bytes]
    warnings: list[str] = field(default_factory=list)


def refresh(snapshot: Snapshot, dependency_file: str, locker: Locker) -> Refresh:
    """`locker`'s refreshed lock for the dependency file as the snapshot now holds it."""
    directory = str(PurePosixPath(dependency_file).parent)
    directory = "" if directory == "." else directory
    lock_path = _join(directory, locker.lock_name)
    old = snapshot.get(lock_path)
    if shutil.which(locker.program) is None:
        return Refresh({}, [_stale(lock_path, locker, directory, f"{locker.program} is not installed")])
    with tempfile.TemporaryDirectory(prefix="paxx-patch-lock-") as tmp:
        work = Path(tmp)
        for name in (*locker.inputs, locker.lock_name):
            content = snapshot.get(_join(directory, name))
            if content is not None:
                (work / name).write_bytes(content)
        command = _command(locker)
        try:
            proc = subprocess.run(
                command, cwd=work, env={**_environment(), **dict(locker.environment)},
                capture_output=True,
                stdin=subprocess.DEVNULL, timeout=LOCKER_TIMEOUT, check=False,
            )
        except subprocess.TimeoutExpired:
            return Refresh({}, [_stale(lock_path, locker, directory,
                                      f"`{' '.join(command)}` took over {LOCKER_TIMEOUT} s")])
        except OSError as e:
            return Refresh({}, [_stale(lock_path, locker, directory, str(e))])
        if proc.returncode != 0:
            why = failure_reason(proc.stderr or proc.stdout)
            return Refresh({}, [_stale(lock_path, locker, directory,
                                      f"`{' '.join(command)}` failed: {why}")])
        new = (work / locker.lock_name).read_bytes()
    return Refresh({} if new == old else {lock_path: new})


def _command(locker: Locker) -> list[str]:
    if locker.program == "poetry" and _poetry_major() < 2:
        return ["poetry", "lock", "--no-update"]  # Poetry 1 re-resolves everything without it
    return list(locker.command)


def _poetry_major() -> int:
    try:
        out = subprocess.run(["poetry", "--version"], capture_output=True, text=True,
                             timeout=60, check=False, env=_environment()).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 2
    m = re.search(r"(\d+)\.\d+", out)
    return int(m.group(1)) if m else 2


def _environment() -> dict[str, str]:
    # the locker must not see the repository (git hooks leak GIT_DIR and friends)
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _stale(lock_path: str, locker: Locker, directory: str, why: str) -> str:
    return (f"{lock_path} was not refreshed ({why}); it no longer matches the new "
            f"dependencies. Run `{locker.shown(directory)}` and commit {lock_path}.")


# what lockers print besides their error: Poetry's "run with -v" and its virtualenv,
# pdm's "see the log" and "add -v"; quoting that in the warning would hide the reason
_HINT = re.compile(r"(^|\s)'?-v'?(\s|$)|--verbose|detailed (debug log|traceback)"
                   r"|^(Creating|Using) virtualenv")
# where the reason starts: uv's "error:" or "× No solution found", pdm's "[ConnectError]:"
_ERROR = re.compile(r"^(error:|×|\[\w+\]:)", re.IGNORECASE)


def failure_reason(output: bytes) -> str:
    """The line of a locker's output that says why it failed, in a few hundred characters."""
    lines = [line.strip() for line in output.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line and not _HINT.search(line)]
    if not lines:
        return "no output"
    start = next((i for i, line in enumerate(lines) if _ERROR.match(line)), 0)
    reason, rest = lines[start], lines[start + 1:]
    if rest and (reason.endswith(":") or rest[0].startswith("cause:")):
        # uv: the headline, then the last cause or the resolver's conclusion
        reason = f"{reason} {rest[-1].lstrip('╰─▶ ')}"
    return reason[:300]


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name
