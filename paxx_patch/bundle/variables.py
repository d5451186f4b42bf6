"""Template variables: a default and the values accepted, checked before use.

A value given with `--set` (or read back from the lock) ends up in generated
files, a compose file, a shell command; so each variable says which values it
takes, and a value that does not match is refused before anything is rendered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paxx_patch.runtime.errors import PaxxError

# a variable declared as `key = "default"` takes values of this shape: no space,
# quote, `$`, `#`, `;` or newline, so a value means the same wherever it is placed
DEFAULT_VARIABLE_PATTERN = r"[A-Za-z0-9_./@+:][A-Za-z0-9_./@+:-]*|"
MAX_VALUE_LENGTH = 256
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_KEYS = {"default", "pattern", "description"}


@dataclass(frozen=True)
class Variable:
    """A template variable: its default and the values it accepts (a regular
    expression the whole value must match)."""

    default: str
    pattern: str = DEFAULT_VARIABLE_PATTERN
    description: str = ""

    def problem(self, value: str) -> str:
        """Why `value` is refused ("" when it is fine)."""
        if len(value) > MAX_VALUE_LENGTH:
            return f"is longer than {MAX_VALUE_LENGTH} characters"
        if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) < 0xE000 for c in value):
            return "contains a control character (newline, NUL, ...) or undecodable bytes"
        if not re.fullmatch(self.pattern, value):
            return f"does not match the pattern {self.pattern!r}"
        return ""


def parse_variables(fail: Callable[[str, str], PaxxError], data: dict[str, Any]) -> dict[str, Variable]:
    """`[variables]`: `key = "default"`, or `[variables.key]` with `default`,
    `pattern` (the values accepted) and `description`."""
    specs = {}
    for key, value in data.items():
        where = f"variables.{key}"
        if not _IDENTIFIER.match(key):
            raise fail(where, "a variable name must be a lower-case identifier")
        if isinstance(value, str):
            spec = Variable(value)
        elif isinstance(value, dict):
            unknown = set(value) - _KEYS
            if unknown:
                raise fail(f"{where}.{min(unknown)}",
                           "unknown key; known keys are default, pattern, description")
            fields = {k: value.get(k, "") for k in _KEYS}
            if not all(isinstance(v, str) for v in fields.values()):
                raise fail(where, "default, pattern and description must be strings")
            if "default" not in value:
                raise fail(f"{where}.default", "is required")
            try:
                re.compile(fields["pattern"] or DEFAULT_VARIABLE_PATTERN)
            except re.error as e:
                raise fail(f"{where}.pattern", f"is not a regular expression ({e})") from e
            spec = Variable(fields["default"], fields["pattern"] or DEFAULT_VARIABLE_PATTERN,
                            fields["description"])
        else:
            raise fail(where, 'must be a string (the default) or a table with `default` '
                       'and `pattern`, e.g. { default = "uploads", pattern = "[a-z0-9-]+" }')
        problem = spec.problem(spec.default)
        if problem:
            raise fail(f"{where}.default", f"{spec.default!r} {problem}")
        specs[key] = spec
    return specs
