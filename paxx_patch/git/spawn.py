"""One git command for the pre-commit hook, without importing `subprocess`.

`subprocess` pulls in `re`, `locale`, `threading`, `selectors` and `signal`:
about 10 ms, as much as the rest of a hook run that reads the committed lock.
`os.posix_spawnp` with two pipes does the same job for a command that reads a
little input and writes its answer; elsewhere (no posix_spawnp, or much input)
this falls back to `subprocess`.
"""

from __future__ import annotations

import os

# what a pipe holds before a writer blocks is at least 64 KiB on Linux and macOS;
# input up to this size is written whole before the output is read, with no deadlock
_SMALL_INPUT = 16 * 1024


def git_output(root: str, args: list[str], data: bytes) -> bytes | None:
    """stdout of `git -C root ARGS` fed `data`; None when git fails or is missing."""
    command = ["git", "-C", root, *args]
    if not hasattr(os, "posix_spawnp") or len(data) > _SMALL_INPUT:
        return _with_subprocess(command, data)
    in_read, in_write = os.pipe()  # not inherited: the child gets only the dup2 copies
    out_read, out_write = os.pipe()
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        pid = os.posix_spawnp("git", command, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, in_read, 0),
            (os.POSIX_SPAWN_DUP2, out_write, 1),
            (os.POSIX_SPAWN_DUP2, devnull, 2),
        ])
    except OSError:
        for fd in (in_write, out_read):
            os.close(fd)
        return None
    finally:
        for fd in (in_read, out_write, devnull):
            os.close(fd)
    try:
        with os.fdopen(in_write, "wb") as stdin:
            stdin.write(data)
    except BrokenPipeError:
        pass  # git stopped reading (it failed): its exit status says so
    with os.fdopen(out_read, "rb") as stdout:
        out = stdout.read()
    _, status = os.waitpid(pid, 0)
    return out if os.waitstatus_to_exitcode(status) == 0 else None


def _with_subprocess(command: list[str], data: bytes) -> bytes | None:
    import subprocess

    try:
        return subprocess.run(command, input=data, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
