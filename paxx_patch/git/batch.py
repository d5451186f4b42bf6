"""The answers of `git cat-file --batch`, read once for every caller.

It imports nothing: `verify`, on the pre-commit hook's path, uses it too.
"""

from __future__ import annotations


def parse_batch(out: bytes, count: int) -> list[tuple[bytes, bytes] | None]:
    """The `count` answers in `out`: (object type, content) each, or None for a name
    git does not have or cannot tell apart (`missing`, `ambiguous`)."""
    results: list[tuple[bytes, bytes] | None] = []
    pos = 0
    for _ in range(count):
        end = out.index(b"\n", pos)
        line, pos = out[pos:end], end + 1
        if line.endswith((b" missing", b" ambiguous")):
            results.append(None)
            continue
        kind, size = line.rsplit(b" ", 2)[1:]  # "<oid> <type> <size>", then the content
        results.append((kind, out[pos : pos + int(size)]))
        pos += int(size) + 1
    return results
