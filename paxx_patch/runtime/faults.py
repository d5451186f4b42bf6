"""Fault injection for the tests: signal or fail the process at a named step.

`PAXX_PATCH_TEST_KILL_AT=STEP` sends SIGKILL when the run reaches STEP;
`STEP:SIGINT` (any signal name) sends that signal instead, and `STEP:fail`
raises the OSError a full disk would; several, comma-separated, apply each at
its step. Steps: `planned`, `built`, the steps of landing (`land-locked`,
`land-prepared`, ... in `paxx_patch.git.land`) and `land-rollback`.
"""

from __future__ import annotations

import errno
import os
import signal

KILL_AT_ENV = "PAXX_PATCH_TEST_KILL_AT"


def checkpoint(step: str) -> None:
    for fault in os.environ.get(KILL_AT_ENV, "").split(","):
        wanted, _, name = fault.partition(":")
        if wanted != step:
            continue
        if name == "fail":
            raise OSError(errno.ENOSPC, f"No space left on device (injected at {step})")
        os.kill(os.getpid(), getattr(signal, name or "SIGKILL"))
