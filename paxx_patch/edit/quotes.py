"""Single quotes for generated modules of projects whose formatter wants them
(`quote-style = "single"`), the way ruff format writes them: a string takes
single quotes unless its text holds a single quote; docstrings and other
triple-quoted strings keep double quotes.

Works on the token stream, so only string literals change (comments and code
around them stay as they are), for both tokenizations of f-strings: one STRING
token up to Python 3.11, FSTRING_START ... FSTRING_END from 3.12.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable

_PREFIX = re.compile(r"^[A-Za-z]*")
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


def prefer_single_quotes(text: str) -> str:
    """`text` with its double-quoted one-line strings in single quotes."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text  # not Python after all: left as the bundle wrote it
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    edits: list[tuple[int, str]] = []  # (offset of a `"`, replacement)

    def at(position: tuple[int, int]) -> int:
        return offsets[position[0] - 1] + position[1]

    starts: list[tuple[tokenize.TokenInfo, bool]] = []  # open f-strings: start, convertible
    for token in tokens:
        if token.type == tokenize.STRING and not starts:
            edits += _string_edits(token, at)
        elif _FSTRING_START is not None and token.type == _FSTRING_START:
            starts.append((token, token.string.endswith('"') and not token.string.endswith('"""')))
        elif starts and token.type == _FSTRING_END:
            start, convertible = starts.pop()
            if convertible:
                edits += [(at(start.end) - 1, "'"), (at(token.start), "'")]
        elif starts and "'" in token.string:
            # a single quote inside: the f-string keeps its double quotes, and so do
            # the ones around it
            starts = [(start, False) for start, _ in starts]
    if not edits:
        return text
    out = list(text)
    for offset, replacement in edits:
        out[offset] = replacement
    return "".join(out)


def _string_edits(
    token: tokenize.TokenInfo, at: Callable[[tuple[int, int]], int]
) -> list[tuple[int, str]]:
    prefix = _PREFIX.match(token.string)
    body = token.string[prefix.end() if prefix else 0 :]
    if body.startswith(('"""', "'''")) or not body.startswith('"'):
        return []
    if "'" in body or '\\"' in body:
        return []  # it holds a quote of either kind: double quotes stay, as ruff keeps them
    first = at(token.start) + len(token.string) - len(body)
    return [(first, "'"), (at(token.end) - 1, "'")]
