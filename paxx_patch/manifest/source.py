"""The source entry of a component in paxx-patch.lock: where its bundle came from.

The pre-commit hook imports this module with the lock: standard library only.
"""

from __future__ import annotations

# `typing` costs the hook ~5 ms to import; type checkers know this name
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from paxx_patch.runtime.errors import PaxxError

_HEX = frozenset("0123456789abcdef")


class SourcePin:
    """Where a component's bundle came from: a git URL (a local path is relative to
    the project directory), the revision asked for, and the commit it resolved to."""

    def __init__(self, url: str, rev: str, commit: str) -> None:
        self.url = url
        self.rev = rev
        self.commit = commit

    def to_table(self) -> dict[str, str]:
        return {"url": self.url, "rev": self.rev, "commit": self.commit}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SourcePin) and self.to_table() == other.to_table()

    def __hash__(self) -> int:
        return hash((self.url, self.rev, self.commit))

    def __repr__(self) -> str:
        return f"SourcePin({self.url!r}, {self.rev!r}, {self.commit!r})"


_SCHEMES = ("https", "http", "ssh", "git", "file", "git+ssh", "ssh+git")
_REV_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._/+-")


def source_url_problem(url: object) -> str:
    """Why `url` may not be fetched as a bundle source ("" when it may). Remote
    helpers (`ext::...` runs a command) and option-like values are refused."""
    if not isinstance(url, str) or not url:
        return "is not a non-empty string"
    if len(url) > 2048:
        return "is longer than 2048 characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        return "contains a control character"
    if url.startswith("-"):
        return "starts with `-` (git would read it as an option)"
    scheme, sep, _ = url.partition("://")
    if "::" in url.partition("/")[0] and not sep:
        return "names a git remote helper (`TRANSPORT::ADDRESS`), which may run commands"
    if sep and scheme.lower() not in _SCHEMES:
        return f"has the scheme {scheme!r}; use one of {', '.join(_SCHEMES)} or a local path"
    return ""


def source_rev_problem(rev: object) -> str:
    """Why `rev` is not a tag, branch or commit name paxx-patch accepts ("" when it is)."""
    if not isinstance(rev, str) or not rev:
        return "is not a non-empty string"
    if len(rev) > 200 or not _REV_CHARS.issuperset(rev):
        return "is not a tag, branch or commit name (letters, digits and . _ / + -)"
    if rev.startswith(("-", "/", ".")) or rev.endswith(("/", ".", ".lock")) or ".." in rev:
        return "is not a tag, branch or commit name git allows"
    return ""


def source_from_table(table: Any, bad: Callable[..., PaxxError], needle: str) -> SourcePin | None:
    """The pin a lock's `[components.NAME.source]` holds (None: no such table); `bad`
    makes the lock's error for a malformed one."""
    if table is None:
        return None
    if not isinstance(table, dict) or set(table) != {"url", "rev", "commit"}:
        raise bad("source", "must be a table of exactly url, rev and commit", needle)
    for key, problem in (("url", source_url_problem(table["url"])),
                         ("rev", source_rev_problem(table["rev"]))):
        if problem:
            raise bad(f"source.{key}", f"is {table[key]!r}, which {problem}", needle)
    commit = table["commit"]
    if not isinstance(commit, str) or len(commit) not in (40, 64) or not _HEX.issuperset(commit):
        raise bad("source.commit", f"is {commit!r}, which is not a git commit id", needle)
    return SourcePin(table["url"], table["rev"], commit)
