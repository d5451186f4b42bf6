"""YAML read with the file and line of a problem, and strings written into YAML as
scalars that read back as exactly that string.

Text pasted into YAML can end a scalar and start new keys (`x\n    privileged:
true`), or read back as another type (`yes`, `0x1f`, `null`). These helpers
write a value either as a plain scalar, when that is unambiguous, or in double
quotes with every character that could mean something escaped.
"""

from __future__ import annotations

import re
from typing import Any

from paxx_patch.runtime.errors import PaxxError

# plain only when it cannot be read as anything but this string
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./:@%+=-]*")
# YAML 1.1 (which Compose's parsers partly keep) and 1.2 words for booleans and null
_WORDS = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null"])
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def double_quoted(value: str) -> str:
    """`value` as a YAML double-quoted scalar; non-ASCII and control characters
    escaped, so no line break or BOM a parser honours can hide in it."""
    out = ['"']
    for c in value:
        code = ord(c)
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif 32 <= code < 127:
            out.append(c)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def is_plain_safe(value: str) -> bool:
    return bool(_PLAIN.fullmatch(value)) and value.lower() not in _WORDS and not value.endswith(":")


def scalar(value: str) -> str:
    """`value` as a YAML scalar: plain when unambiguous, else double-quoted."""
    return value if is_plain_safe(value) else double_quoted(value)


def load_yaml(path: str, text: str, lines: bool = True) -> Any:
    """Parse `text`; with `lines`, round-trip nodes that know their line numbers,
    else plain data from the (much faster, C-accelerated) safe loader."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="rt", pure=True).load(text) if lines else YAML(typ="safe").load(text)
    except RecursionError:
        raise PaxxError(
            f"{path}: nested too deeply to read (the parser gave up). "
            "Fix it and commit it."
        ) from None
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise PaxxError(f"{where}: not valid YAML ({problem}). Fix it and commit it.") from e
