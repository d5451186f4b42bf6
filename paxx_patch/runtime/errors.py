"""The one error type users see, and the one handler that turns errors into exit codes."""

from __future__ import annotations

import errno
import os
import sys

# `typing` costs the hook ~5 ms to import; type checkers know this name
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

EXIT_OK = 0
EXIT_FAILED = 1  # verify found modified files, or conflicts were left for the user
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class PaxxError(Exception):
    """Bad usage or bad input: the message says what, where, and how to fix it."""

    exit_code = EXIT_BAD_INPUT
    # what the command had to say when it failed (a conflict: the commits it made),
    # merged into the --json document of the failure
    report: dict[str, object] | None = None


class ConflictError(PaxxError):
    """The change was applied but git left conflicts for the user to resolve."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, paths: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.paths = list(paths)  # the conflicted files, for the --json report


class GitError(PaxxError):
    """A git command failed, or git could not be run: reported as git failing
    (which command, the last line it printed), never as something the user did."""


def git_failed(args: Sequence[str], stderr: bytes, returncode: int) -> GitError:
    """The one message for a git command that ran and failed."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    said = lines[-1] if lines else f"it exited {returncode} without a message"
    return GitError(f"`git {_shown(args)}` failed: {_clip(said)}")


def git_not_run(args: Sequence[str], e: OSError) -> GitError:
    """The one message for a git that could not be started (not on PATH, not executable)."""
    return GitError(
        f"git could not be run (`git {_shown(args)}`: {e.strerror}); paxx-patch works "
        "through git: install it or put it on PATH, then run again."
    )


def _shown(args: Sequence[str]) -> str:
    """The subcommand and its first argument: `git -C DIR cat-file --batch` reads as
    `cat-file --batch`, and a long list of paths is not repeated."""
    words = list(args)
    while words[:1] and words[0].startswith("-"):  # git's own options
        words = words[2:] if words[0] in ("-C", "-c") else words[1:]
    return " ".join(_clip(w, 80) for w in words[:2])


def _clip(text: str, limit: int = 300) -> str:
    """A message quotes what it was given, but never pages of it."""
    return text if len(text) <= limit else f"{text[: limit // 2]}...{text[-limit // 4 :]}"


class TornError(PaxxError):
    """Landing failed and could not be undone; the message says how to finish by hand."""

    exit_code = EXIT_INTERNAL


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived (see `paxx_patch.runtime.signals`)."""

    # SIGINT's number, 2 on every POSIX system: the signal module (and the enum module
    # it builds its names with) is imported only to name another signal, since the
    # pre-commit hook imports this module on every commit and never needs it
    SIGINT = 2

    def __init__(self, signum: int = SIGINT) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        if self.signum == self.SIGINT:
            return "interrupted"
        import signal

        return f"stopped by {signal.Signals(self.signum).name}"


# What has reached the user's branch in this run, for a Ctrl-C that comes after it.
_landed: list[str] = []


def record_landed(what: str) -> None:
    """Landing passed its point of no return: an interrupt from now on must say so."""
    _landed.append(what)


def interrupted_message(e: KeyboardInterrupt) -> str:
    """One line: which interrupt, and whether the change had landed before it."""
    what = str(e) if isinstance(e, Interrupted) else "interrupted"
    if _landed:
        return f"paxx-patch: {what} after the change had landed: {'; '.join(_landed)}."
    return f"paxx-patch: {what}; nothing was changed."


# a full disk, a read-only file system, missing permissions: the machine, not paxx-patch
_ENVIRONMENT = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES,
                          errno.EPERM})
# a name the file system refuses (too long, a loop of symlinks): the input, not paxx-patch
_BAD_NAME = frozenset({errno.ENAMETOOLONG, errno.ELOOP})


class error_handler:
    """Run a command; record its exit code in the list `with` gives.

    PaxxError prints its message; anything else is a bug and asks for a report,
    never a bare traceback. With `json_command` (the command's --json), the outcome
    is also one JSON document on stdout: {"command", "exit_code", "error": {"kind",
    "message"}}, plus what the command had to report (a conflict's commits). (A
    class, not `contextlib.contextmanager`: the hook runs it on every commit and
    contextlib costs more to import than the hook's work.)
    """

    def __init__(self, json_command: str | None = None) -> None:
        self.json_command = json_command

    def __enter__(self) -> list[int]:
        self.result = [EXIT_OK]
        _landed.clear()
        return self.result

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if e is None:
            return False
        if isinstance(e, BrokenPipeError):
            # the reader went away (`paxx-patch ... | head`) before the command finished
            silence_stdout()
            self.result[0] = EXIT_FAILED
            return True
        if isinstance(e, SystemExit):  # argparse: --help, --version, or bad usage
            if e.code == EXIT_BAD_INPUT and self.json_command:
                self.report("usage", usage_error() or "bad usage (see --help)", EXIT_BAD_INPUT)
            return False
        failure = _classify(e)
        if failure is None:
            return False  # GeneratorExit and the like go on
        what, message, code = failure
        if what == "internal":
            _internal(e)
        else:
            print(message, file=sys.stderr)
        self.result[0] = code
        if self.json_command:
            prefix = "paxx-patch: error: "
            self.report(what, message.removeprefix(prefix), code, getattr(e, "report", None))
        return True

    def report(self, what: str, message: str, code: int, extra: dict[str, object] | None = None) -> None:
        """The outcome as the one JSON document on stdout."""
        import json

        document = {**(extra or {}), "command": self.json_command, "exit_code": code,
                    "error": {"kind": what, "message": message}}
        try:
            print(json.dumps(document, indent=2))
            sys.stdout.flush()
        except BrokenPipeError:
            silence_stdout()


_usage: list[str] = []


def usage_error(message: str | None = None) -> str | None:
    """What argparse last said was wrong with the command line (set by its `error`)."""
    if message is not None:
        _usage[:] = [message]
    return _usage[0] if _usage else None


def _classify(e: BaseException) -> tuple[str, str, int] | None:
    """(kind, message, exit code) of a failure: the one rule, in one place."""
    if isinstance(e, PaxxError):
        kinds = {ConflictError: "conflict", GitError: "git", TornError: "torn"}
        what = next((k for cls, k in kinds.items() if isinstance(e, cls)), "bad-input")
        return what, f"paxx-patch: error: {e}", e.exit_code
    if isinstance(e, KeyboardInterrupt):
        return "interrupted", interrupted_message(e), EXIT_INTERRUPTED
    cause = e.__cause__
    while cause is not None:  # Python wraps some, e.g. one raised in a class's `__set_name__`
        if isinstance(cause, KeyboardInterrupt):
            return "interrupted", interrupted_message(cause), EXIT_INTERRUPTED
        cause = cause.__cause__
    if isinstance(e, OSError) and e.errno in _ENVIRONMENT:
        return "environment", (f"paxx-patch: error: {e.strerror}{_where(e)}. Free some space or "
                               f"fix the permissions, then run again; {_state()}"), EXIT_BAD_INPUT
    if isinstance(e, OSError) and e.errno in _BAD_NAME:
        return "bad-input", (f"paxx-patch: error: {e.strerror}{_where(e)}: the file system "
                             "refuses this name; give a shorter path (or one without a symlink "
                             f"loop); {_state()}"), EXIT_BAD_INPUT
    if isinstance(e, Exception):  # the last line of defence
        return "internal", f"internal error: {type(e).__name__}: {_clip(str(e))}", EXIT_INTERNAL
    return None


def _where(e: OSError) -> str:
    return f" ({_clip(os.fsdecode(e.filename))})" if e.filename else ""


def silence_stdout() -> None:
    """Send what is left for a closed stdout to /dev/null, so the interpreter's
    final flush does not fail (and turn the exit code into 120)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (e.g. captured output)
        pass


def flush_output() -> None:
    """Flush stdout once the command is done: a reader that went away only
    missed the report, and the exit code stays the command's."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()


def _internal(e: BaseException) -> None:
    try:
        report = _write_crash_report(e)
    except OSError:
        report = "the traceback (it could not be written to a file)"
    print(
        f"paxx-patch: internal error: {type(e).__name__}: {_clip(str(e))}\n"
        f"This is a bug in paxx-patch; {_state()} "
        f"Please report it and attach {report}.",
        file=sys.stderr,
    )


def _state() -> str:
    if _landed:
        return f"the change had already landed ({'; '.join(_landed)})."
    return "your repository was left as it was."


def _write_crash_report(e: BaseException) -> str:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile(
        "w", prefix="paxx-patch-crash-", suffix=".txt", delete=False
    ) as f:
        f.write("".join(traceback.format_exception(e)))
        return f.name
