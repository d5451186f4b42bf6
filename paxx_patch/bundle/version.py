"""Component versions: semantic versions (`1.4.2`, `2.0.0-rc.1`), the one parser.

Parts have at most nine digits: versions are compared as integers, and `int()` of a
huge digit string is slow or refused. A release tag is a version without a
pre-release, with or without a leading `v`.
"""

from __future__ import annotations

import re

from paxx_patch.runtime.errors import PaxxError

_PART = r"(0|[1-9]\d{0,8})"
_VERSION = re.compile(rf"^(v?){_PART}\.{_PART}\.{_PART}(?:-([0-9A-Za-z.-]{{1,64}}))?$")
Key = tuple[int, int, int, int, str]


def _parse(text: str, tag: bool) -> Key | None:
    m = _VERSION.match(text)
    if m is None or (m.group(1) and not tag):
        return None
    pre = m.group(5) or ""
    # a pre-release sorts before its release
    return int(m.group(2)), int(m.group(3)), int(m.group(4)), 0 if pre else 1, pre


def is_version(text: str) -> bool:
    return _parse(text, tag=False) is not None


def order(version: str) -> Key:
    """The sort key of `version`, or a PaxxError saying it is not one."""
    key = _parse(version, tag=False)
    if key is None:
        raise PaxxError(f"{version!r} is not a semantic version such as 1.2.0.")
    return key


def release(tag: str) -> tuple[int, int, int] | None:
    """`v1.2.0` or `1.2.0` as (1, 2, 0); None for any other tag, pre-releases included."""
    key = _parse(tag, tag=True)
    return key[:3] if key is not None and not key[4] else None
