"""Ctrl-C and termination as exceptions, and a way to hold them off.

`install()` runs first in `main`: SIGINT, SIGTERM and SIGHUP raise
`Interrupted`, so every one of them ends in the one error handler (exit 130,
one line) with `finally` blocks run, instead of a traceback or a silent death.
`deferred()` blocks them at the process level for a critical section; the
children started meanwhile inherit the mask, so a Ctrl-C sent to the whole
process group cannot kill a git command half-way through either.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from paxx_patch.runtime.errors import Interrupted

INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def install() -> Callable[[], None]:
    """Route interrupts to `Interrupted`; returns what puts the old handlers back.

    A signal the parent ignores (`nohup`, a background job) stays ignored.
    """
    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # only the main thread may set handlers (main() run from a thread)
    for sig in INTERRUPTS:
        current = signal.getsignal(sig)
        if current is signal.SIG_IGN:
            continue
        previous[sig] = current
        signal.signal(sig, _raise)
    hook = sys.unraisablehook

    def raise_again(unraisable: sys.UnraisableHookArgs) -> None:
        # The handler ran inside a callback Python cannot raise from (a weakref
        # callback of the import system, a __del__): it would print "Exception
        # ignored" and go on. The signal is sent again a moment later, once this
        # hook has returned, to be raised where it can.
        if isinstance(unraisable.exc_value, Interrupted):
            again = (os.getpid(), unraisable.exc_value.signum)
            threading.Timer(0.01, os.kill, again).start()
        else:
            hook(unraisable)

    sys.unraisablehook = raise_again

    def restore() -> None:
        sys.unraisablehook = hook
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    return restore


def ignore() -> None:
    for sig in INTERRUPTS:
        signal.signal(sig, signal.SIG_IGN)


def take_pending() -> int | None:
    """Consume one blocked interrupt that is waiting; its number, or None."""
    waiting = signal.sigpending() & set(INTERRUPTS)
    if not waiting:
        return None
    info = signal.sigtimedwait(waiting, 0)
    return info.si_signo if info is not None else None


def raise_if_pending() -> None:
    """Inside `deferred()`: turn a waiting interrupt into `Interrupted` now."""
    signum = take_pending()
    if signum is not None:
        raise Interrupted(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Interrupts wait until the block ends; nesting is safe.

    When the block ends normally a waiting interrupt is delivered then. When it
    ends with an exception the interrupt is dropped: that exception already
    stops the run, and it says what happened to the repository.
    """
    old = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
    try:
        yield
    except BaseException:
        while take_pending() is not None:
            pass
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
