"""The project's package lock (uv.lock, poetry.lock, pdm.lock), refreshed with its own locker.

When the dependencies commit changes the dependency file of a project that has a lock
beside it, the project's locker runs on a temporary copy of the few files it reads (never
on the user's checkout), without upgrading anything else, and the new lock goes into the
same commit. When the locker is not installed or fails (offline, say), the change still
lands and a warning names the exact command to run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
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


def workspace_lock(snapshot: Snapshot, dependency_file: str) -> str:
    """A uv.lock above the dependency file: the lock of a workspace the project is a member of.

    It is not refreshed (the copy would need every member's pyproject.toml); the caller warns.
    """
    parents = PurePosixPath(dependency_file).parents
    for parent in list(parents)[1:]:
        lock = _join("" if str(parent) == "." else str(parent), "uv.lock")
        if snapshot.exists(lock):
            return lock
    return ""


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
    warning: str = ""


def refresh(snapshot: Snapshot, dependency_file: str, locker: Locker) -> Refresh:
    """`locker`'s refreshed lock for the dependency file as the snapshot now holds it."""
    directory = str(PurePosixPath(dependency_file).parent)
    directory = "" if directory == "." else directory
    lock_path = _join(directory, locker.lock_name)
    old = snapshot.get(lock_path)
    if shutil.which(locker.program) is None:
        return Refresh({}, _stale(lock_path, locker, directory, f"{locker.program} is not installed"))
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
            return Refresh({}, _stale(lock_path, locker, directory,
                                      f"`{' '.join(command)}` took over {LOCKER_TIMEOUT} s"))
        except OSError as e:
            return Refresh({}, _stale(lock_path, locker, directory, str(e)))
        if proc.returncode != 0:
            why = failure_reason(proc.stderr or proc.stdout)
            return Refresh({}, _stale(lock_path, locker, directory,
                                      f"`{' '.join(command)}` failed: {why}"))
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
