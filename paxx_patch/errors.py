"""The one error type users see, and the one handler that turns errors into exit codes."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

EXIT_OK = 0
EXIT_FAILED = 1  # verify found modified files, or conflicts were left for the user
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class PaxxError(Exception):
    """Bad usage or bad input: the message says what, where, and how to fix it."""

    exit_code = EXIT_BAD_INPUT


class ConflictError(PaxxError):
    """The change was applied but git left conflicts for the user to resolve."""

    exit_code = EXIT_FAILED


class GitError(PaxxError):
    """A git command failed in a way the user can act on."""


@contextlib.contextmanager
def error_handler() -> Iterator[list[int]]:
    """Run a command; record its exit code in the yielded list.

    PaxxError prints its message; anything else is a bug and asks for a report,
    never a bare traceback.
    """
    result = [EXIT_OK]
    try:
        yield result
    except PaxxError as e:
        print(f"paxx-patch: error: {e}", file=sys.stderr)
        result[0] = e.exit_code
    except BrokenPipeError:
        # the reader went away (`paxx-patch ... | head`) before the command finished
        silence_stdout()
        result[0] = EXIT_FAILED
    except KeyboardInterrupt:
        print("paxx-patch: interrupted; nothing was changed.", file=sys.stderr)
        result[0] = EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 — the last line of defence
        report = _write_crash_report(e)
        print(
            f"paxx-patch: internal error: {type(e).__name__}: {e}\n"
            "This is a bug in paxx-patch; your repository was left as it was. "
            f"Please report it and attach {report}.",
            file=sys.stderr,
        )
        result[0] = EXIT_INTERNAL


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


def _write_crash_report(e: BaseException) -> str:
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile(
        "w", prefix="paxx-patch-crash-", suffix=".txt", delete=False
    ) as f:
        f.write("".join(traceback.format_exception(e)))
        return f.name
