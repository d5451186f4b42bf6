"""Read the TOML that `Lock.dumps` writes, fast, for the pre-commit hook.

Importing tomllib costs the hook about as much as everything else it does (it
pulls in `re`, `datetime`, `string`, `typing`). The lock is machine-written in a
small, fixed shape: `[dotted.headers]`, `key = value` lines, values that are
basic strings, integers, booleans or arrays of strings. This
reader takes exactly that shape and returns None for anything else (a float,
an inline table, a duplicate key, a hand edit in another style), and the caller
then parses the text with tomllib, which also gives the error message.
"""

from __future__ import annotations

# `typing` costs the hook ~5 ms to import; type checkers know this name
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class _NotSimple(Exception):
    """The text is outside the simple shape: let tomllib read it."""


def read_simple_toml(text: str) -> dict[str, Any] | None:
    root: dict[str, Any] = {}
    table = root
    defined: set[tuple[str, ...]] = set()
    try:
        # not splitlines(): it also breaks at \x85, \u2028 and others, which TOML does not
        for line in text.split("\n"):
            line = line.removesuffix("\r")
            if not line:
                continue
            if line.startswith("#"):
                if _has_control(line):
                    raise _NotSimple
                continue
            if line.startswith("["):
                if not line.endswith("]") or line.startswith("[["):
                    raise _NotSimple
                path = tuple(_keys(line[1:-1]))
                if path in defined:
                    raise _NotSimple
                defined.add(path)
                table = root
                for part in path:
                    table = table.setdefault(part, {})
                    if not isinstance(table, dict):
                        raise _NotSimple
                continue
            if line.startswith('"'):
                key, end = _string(line, 0)
            else:
                end = 0
                while end < len(line) and line[end] in _BARE:
                    end += 1
                key = line[:end]
            if not key and end == 0 or not line.startswith(" = ", end) or key in table:
                raise _NotSimple
            table[key] = _value(line[end + 3 :])
    except _NotSimple:
        return None
    return root


def _keys(text: str) -> list[str]:
    """A dotted key: bare parts or quoted strings."""
    parts = []
    i = 0
    while True:
        if text.startswith('"', i):
            part, i = _string(text, i)
        else:
            end = i
            while end < len(text) and text[end] in _BARE:
                end += 1
            part, i = text[i:end], end
            if not part:
                raise _NotSimple
        parts.append(part)
        if i == len(text):
            return parts
        if text[i] != ".":
            raise _NotSimple
        i += 1


def _value(text: str) -> str | int | bool | list[str]:
    if text.startswith('"'):
        value, end = _string(text, 0)
        if end != len(text):
            raise _NotSimple
        return value
    if text in ("true", "false"):
        return text == "true"
    if text.startswith("["):
        items: list[str] = []
        i = 1
        while text.startswith('"', i):
            item, i = _string(text, i)
            items.append(item)
            if text.startswith(", ", i):
                i += 2
            elif i != len(text) - 1:
                raise _NotSimple
        if text[i:] != "]":
            raise _NotSimple
        return items
    digits = text.removeprefix("-")
    if digits.isascii() and digits.isdigit() and len(digits) < 19 and (
        digits == "0" or not digits.startswith("0")
    ):
        return int(text)
    raise _NotSimple


_ESCAPES = {'"': '"', "\\": "\\", "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r"}


def _has_control(text: str) -> bool:
    """TOML refuses control characters other than tab in strings and comments."""
    return any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in text)


def _string(text: str, start: int) -> tuple[str, int]:
    """The basic string opening at `start`, and the index after its closing quote."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            code = text[i + 1 : i + 2]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                i += 2
                continue
            width = {"u": 4, "U": 8}.get(code, 0)
            digits = text[i + 2 : i + 2 + width]
            if not width or len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise _NotSimple
            point = int(digits, 16)
            if 0xD800 <= point < 0xE000 or point > 0x10FFFF:
                raise _NotSimple
            out.append(chr(point))
            i += 2 + width
            continue
        if _has_control(c):
            raise _NotSimple
        out.append(c)
        i += 1
    raise _NotSimple
