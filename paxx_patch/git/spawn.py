"""One git command for the pre-commit hook, without importing `subprocess`.

`subprocess` pulls in `re`, `locale`, `threading`, `selectors` and `signal`:
about 10 ms, as much as the rest of a hook run that reads the committed lock.
`os.posix_spawnp` with two pipes does the same job for a command that reads a
little input and writes its answer; elsewhere (no posix_spawnp or memfd, or much
input) this falls back to `subprocess`.
"""

from __future__ import annotations

import os

from paxx_patch.runtime.errors import git_failed, git_not_run

# what a pipe holds before a writer blocks is at least 64 KiB on Linux and macOS;
# input up to this size is written whole before the output is read, with no deadlock
_SMALL_INPUT = 16 * 1024


def git_output(root: str, args: list[str], data: bytes) -> bytes:
    """stdout of `git -C root ARGS` fed `data`; a GitError when git fails or cannot
    be run, so that the hook never mistakes a broken git for an edited file."""
    command = ["git", "-C", root, *args]
    memfd = getattr(os, "memfd_create", None)
    if not hasattr(os, "posix_spawnp") or memfd is None or len(data) > _SMALL_INPUT:
        return _with_subprocess(command, data)
    # stderr goes to an in-memory file, not a pipe: git may say much there while
    # stdout is being read, and a full stderr pipe would stall it
    errors = memfd("paxx-patch-git-stderr")
    in_read, in_write = os.pipe()  # not inherited: the child gets only the dup2 copies
    out_read, out_write = os.pipe()
    try:
        pid = os.posix_spawnp("git", command, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, in_read, 0),
            (os.POSIX_SPAWN_DUP2, out_write, 1),
            (os.POSIX_SPAWN_DUP2, errors, 2),
        ])
    except OSError as e:
        for fd in (in_write, out_read, errors):
            os.close(fd)
        raise git_not_run(args, e) from None
    finally:
        for fd in (in_read, out_write):
            os.close(fd)
    try:
        with os.fdopen(in_write, "wb") as stdin:
            stdin.write(data)
    except BrokenPipeError:
        pass  # git stopped reading (it failed): its exit status says so
    with os.fdopen(out_read, "rb") as stdout:
        out = stdout.read()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with os.fdopen(errors, "rb") as stderr:
        if code == 0:
            return out
        stderr.seek(0)
        raise git_failed(args, stderr.read(), code)


def _with_subprocess(command: list[str], data: bytes) -> bytes:
    import subprocess

    try:
        proc = subprocess.run(command, input=data, capture_output=True, check=False)
    except OSError as e:
        raise git_not_run(command[3:], e) from None
    if proc.returncode != 0:
        raise git_failed(command[3:], proc.stderr, proc.returncode)
    return proc.stdout
