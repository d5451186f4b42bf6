"""Limits on rendering a bundle's templates: time, output size, call depth, ranges.

A bundle is data, and data must not hang a run, exhaust its memory or crash it.
jinja2's sandbox keeps a template away from Python's internals; these limits keep
it within the machine, through the sandbox's own hooks: `call` (every function and
macro call), the intercepted binary operators (`*`, `**`, `%`), the `range` and
`namespace` globals, and the filters. What no hook sees (a loop over a list that
does nothing) is stopped by a timer.
"""

from __future__ import annotations

import functools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Namespace

MAX_SECONDS = 10.0  # one template, or one string of bundle.toml
MAX_FILE_CHARS = 1024 * 1024  # what one template may produce
MAX_TOTAL_CHARS = 8 * 1024 * 1024  # what the templates of one bundle may produce together
MAX_DEPTH = 40  # calls inside calls: macros calling macros, caller(), ...
MAX_RANGE = 10_000  # items in one range()
MAX_POWER_BITS = 4096  # the size of a number `**` may make



def limits() -> str:
    """The limits, as an error message recalls them."""
    return (f"bundles render within {MAX_SECONDS:g} s, {MAX_FILE_CHARS} characters per file "
            f"and {MAX_TOTAL_CHARS} per bundle, {MAX_DEPTH} nested calls and range() of "
            f"{MAX_RANGE} items")


class LimitExceeded(Exception):
    """A template went past one of the limits; the message says which."""


class _Budget:
    """The clock and the call depth of the render under way."""

    def __init__(self) -> None:
        self.seconds = MAX_SECONDS
        self.deadline = time.monotonic() + self.seconds
        self.depth = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"ran longer than {self.seconds:g} s")


def _too_big(size: int, what: str) -> None:
    if size > MAX_FILE_CHARS:
        raise LimitExceeded(f"makes {what} {size} long, over the limit of {MAX_FILE_CHARS}")


def _sized(value: Any, what: str) -> Any:
    if isinstance(value, str | list | tuple):
        _too_big(len(value), what)
    return value


def _check_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> None:
    """No width or count past the file limit (`center(10**9)`, `indent(10**9)`), and no
    string argument that multiplies a long value past it (`replace("", long)`)."""
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_FILE_CHARS:
            raise LimitExceeded(f"passes {arg} to {what}, over the limit of {MAX_FILE_CHARS}")


def _estimate(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> None:
    if isinstance(value, str):
        longest = max((len(a) for a in (*args, *kwargs.values()) if isinstance(a, str)), default=1)
        _too_big(len(value) * max(longest, 1), f"a string with {what}")


class _Range:
    """range() whose iteration keeps the clock: a loop is where time goes."""

    def __init__(self, budget: Callable[[], _Budget], *args: int) -> None:
        self._range = range(*args)
        if len(self._range) > MAX_RANGE:
            raise LimitExceeded(f"asks for range() of {len(self._range)} items, over the limit "
                                f"of {MAX_RANGE}")
        self._budget = budget

    def __iter__(self) -> Iterator[int]:
        budget = self._budget()
        for item in self._range:
            budget.tick()
            yield item

    def __reversed__(self) -> Iterator[int]:
        return iter(list(self)[::-1])

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index: int) -> int:
        return self._range[index]

    def __contains__(self, item: object) -> bool:
        return item in self._range

    def __repr__(self) -> str:
        return repr(self._range)


class _Namespace(Namespace):
    """namespace() whose attributes cannot grow past the file limit: a loop doubling
    `ns.text` would otherwise fill the memory in thirty rounds."""

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, _sized(value, f"the namespace attribute `{name}`"))


class LimitedSandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.budget = _Budget()
        self.globals["range"] = lambda *args: _Range(lambda: self.budget, *args)
        self.globals["namespace"] = _Namespace
        self.filters = {name: self._guarded(name, f) for name, f in self.filters.items()}

    def start(self) -> None:
        """A new render: a new clock."""
        self.budget = _Budget()

    def _guarded(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        from jinja2.utils import _PassArg

        first = 0 if _PassArg.from_obj(function) is None else 1  # context or environment

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.budget.tick()
            value, rest = (args[first], args[first + 1 :]) if len(args) > first else (None, ())
            _check_arguments(rest, kwargs, f"the filter `{name}`")
            _estimate(value, rest, kwargs, f"the filter `{name}`")
            return _sized(function(*args, **kwargs), f"a value with the filter `{name}`")

        return guarded

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.budget.tick()
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    _too_big(len(sequence) * count, "a sequence with `*`")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if abs(left) > 1 and right * max(abs(left).bit_length() - 1, 1) > MAX_POWER_BITS:
                raise LimitExceeded(f"computes {left} ** {right}, a number over "
                                    f"{MAX_POWER_BITS} bits")
        elif operator == "%" and isinstance(left, str):
            values = right if isinstance(right, tuple) else (right,)
            _check_arguments(values, {}, "`%` formatting")
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = self.budget
        budget.tick()
        if budget.depth >= MAX_DEPTH:
            raise LimitExceeded(f"nests calls more than {MAX_DEPTH} deep (a macro calling "
                                "itself without end?)")
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str):  # "x".center(...), "x".ljust(...), ...
            method = f"str.{getattr(obj, '__name__', 'method')}"
            _check_arguments(args, kwargs, method)
            _estimate(owner, args, kwargs, method)
        budget.depth += 1
        try:
            result = super().call(context, obj, *args, **kwargs)
        finally:
            budget.depth -= 1
        return _sized(result, "a call's result")


class timer:
    """The backstop for what no hook sees: SIGALRM after the time limit, where this
    runs in the main thread (elsewhere, the hooks' clock alone)."""

    def __enter__(self) -> None:
        self.armed = (threading.current_thread() is threading.main_thread()
                      and hasattr(signal, "setitimer"))
        if self.armed:
            self.previous = signal.signal(signal.SIGALRM, _out_of_time)
            signal.setitimer(signal.ITIMER_REAL, MAX_SECONDS + 1)

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL if self.previous is None else self.previous)


def _out_of_time(signum: int, frame: object) -> None:
    raise LimitExceeded(f"ran longer than {MAX_SECONDS:g} s")
