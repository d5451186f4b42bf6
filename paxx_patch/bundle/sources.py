"""Bundles from git repositories: `--from SOURCE[@REV]`, named sources, pins.

A source is any git URL or local path. Its bundle NAME is the repository root (when
the root's bundle.toml is named NAME) or `bundles/NAME/`. The repository is cached
as a bare repository (`paxx_patch.git.cache`); a bundle is read out of it at one
commit into a directory of its own and then loaded and validated exactly like a
local bundle directory. The lock pins the URL, the revision asked for and the
commit, so every later render reads the same files on any clone.

A local path is recorded relative to the project directory (the one holding the
lock), so that a clone with the same layout of repositories finds it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from paxx_patch.bundle import Bundle, load_bundle_dir, version
from paxx_patch.discover import FileReader, join, read_toml
from paxx_patch.git.cache import CachedSource, cache_root
from paxx_patch.manifest.source import SourcePin, source_rev_problem, source_url_problem
from paxx_patch.runtime.errors import PaxxError

# release tags only: v1.2.3 or 1.2.3 (pre-releases are chosen by naming them)
_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*$")
_COMPONENT = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Source:
    url: str  # as the lock records it
    location: str  # what git fetches: a local path made absolute
    rev: str | None  # asked for; None: the newest release tag

    @property
    def cache(self) -> CachedSource:
        return CachedSource(self.location)


def is_local(url: str) -> bool:
    """A local path, as git tells one from a URL: no `scheme://`, and no colon
    before the first slash (that is scp-like `host:path`)."""
    if "://" in url:
        return False
    head = url.split("/", 1)[0]
    return ":" not in head or (len(head) == 2 and head[1] == ":")


def split_rev(spec: str) -> tuple[str, str | None]:
    """`SOURCE@REV` -> (SOURCE, REV); an `@` that belongs to the URL (`git@host:...`,
    `https://user@host/...`) is left alone."""
    head, at, tail = spec.rpartition("@")
    if not at or not head or not tail or ":" in tail or _USERINFO.match(head):
        return spec, None
    return head, tail


def named_sources(files: FileReader, project_root: str) -> dict[str, str]:
    """`[tool.paxx-patch.sources]` of the project's pyproject.toml: name -> URL."""
    path = join(project_root, "pyproject.toml")
    files.load([path])
    tool = read_toml(files, path).get("tool", {})
    config = tool.get("paxx-patch", {}) if isinstance(tool, dict) else {}
    table = config.get("sources", {}) if isinstance(config, dict) else {}
    if not isinstance(table, dict):
        raise PaxxError(f"{path}: [tool.paxx-patch.sources] must be a table of name = URL, "
                        'such as `ours = "https://git.example.com/platform/bundles.git"`.')
    for name, url in table.items():
        problem = source_url_problem(url)
        if problem:
            raise PaxxError(f"{path}: [tool.paxx-patch.sources] {name} = {url!r}: the URL "
                            f"{problem}. Fix it and commit it.")
    return dict(table)


def parse_source(
    spec: str, rev: str | None, *, project_dir: Path, cwd: Path, named: Mapping[str, str],
) -> Source:
    """The source `--from SPEC` (and `--rev REV`, which wins over `@REV`) names."""
    where = f"--from {spec}"
    if rev is None:
        spec, rev = split_rev(spec)
    if spec in named:
        url, base = named[spec], project_dir  # a pyproject's paths are relative to it
    else:
        url, base = spec, cwd
    problem = source_url_problem(url)
    if problem:
        raise PaxxError(f"{where}: {url!r} {problem}. Name a git URL or a local path.")
    if rev is not None:
        problem = source_rev_problem(rev)
        if problem:
            raise PaxxError(f"{where}: the revision {rev!r} {problem}.")
    if is_local(url):
        absolute = (base / url).resolve()
        if not absolute.exists():
            raise PaxxError(f"{where}: {absolute} does not exist. Name a git repository "
                            "(a URL or the path of a local clone).")
        url = absolute.as_posix() if Path(url).is_absolute() else (
            Path(os.path.relpath(absolute, project_dir)).as_posix())
    return Source(url, location_of(url, project_dir), rev)


def location_of(url: str, project_dir: Path) -> str:
    """What git fetches for a URL the lock records."""
    if is_local(url):
        return str((project_dir / url).resolve())
    return url


def from_pin(pin: SourcePin, project_dir: Path, rev: str | None = None) -> Source:
    return Source(pin.url, location_of(pin.url, project_dir), rev)


def newest_tag(cache: CachedSource) -> tuple[str, str] | None:
    """(tag, commit) of the highest release tag, or None when there is none."""
    releases = [(v, tag, commit) for tag, commit in cache.tags().items()
                if (v := version.release(tag)) is not None]
    if not releases:
        return None
    _, tag, commit = max(releases)
    return tag, commit


def refresh(source: Source, offline: bool) -> CachedSource:
    """The source's cache, fetched first unless `offline`."""
    cache = source.cache
    if offline:
        if not cache.exists():
            raise PaxxError(
                f"{source.location} is not in the cache ({cache_root()}) and --offline forbids "
                "fetching it. Run once without --offline; nothing was changed."
            )
    else:
        cache.fetch()
    return cache


def resolve(source: Source, offline: bool) -> SourcePin:
    """Fetch (unless offline) and pin the revision asked for, or the newest release tag."""
    cache = refresh(source, offline)
    rev = source.rev
    if rev is None:
        newest = newest_tag(cache)
        if newest is None:
            raise PaxxError(
                f"{source.location} has no release tag (vX.Y.Z or X.Y.Z). Name a revision: "
                f"--from {source.url}@main (a tag, branch or commit)."
            )
        rev = newest[0]
    commit = cache.resolve(rev)
    if commit is None:
        tags = sorted(cache.tags(), key=lambda t: version.release(t) or (-1, -1, -1))
        shown = ", ".join(tags[-8:]) or "none"
        raise PaxxError(f"{source.location} has no tag, branch or commit {rev!r} (newest tags: "
                        f"{shown}). Name one it has.")
    return SourcePin(source.url, rev, commit)


def load_from(source: Source, name: str, offline: bool) -> Bundle:
    """The bundle NAME from the source, at the revision asked for (or the newest tag)."""
    return bundle_at(source, resolve(source, offline), name)


def load_pinned(pin: SourcePin, name: str, project_dir: Path, offline: bool) -> Bundle:
    """The bundle NAME at the commit the lock pins; fetched again when the cache lacks it."""
    source = from_pin(pin, project_dir, pin.rev)
    cache = source.cache
    if cache.resolve(pin.commit) is None:
        if offline:
            raise PaxxError(
                f"the cache lacks commit {pin.commit[:12]} of {source.location}, which the lock "
                f"pins for {name}, and --offline forbids fetching it. Run without --offline."
            )
        cache.fetch()
        if cache.resolve(pin.commit) is None:
            raise PaxxError(
                f"{source.location} no longer has commit {pin.commit[:12]}, which the lock pins "
                f"for {name} (rev {pin.rev}). Move to a revision it has: `paxx-patch update "
                f"{name} --rev REV`."
            )
    return bundle_at(source, pin, name)


def bundle_at(source: Source, pin: SourcePin, name: str) -> Bundle:
    """Read bundle NAME out of the cache at `pin.commit` and load it like a local one."""
    if not _COMPONENT.match(name):
        raise PaxxError(f"{name!r} is not a component name (lower-case letters, digits and dashes).")
    cache = source.cache
    shown = f"{source.url} at {pin.rev} ({pin.commit[:12]})"
    subdir = _locate(cache, pin.commit, name, shown)
    key = hashlib.sha256(f"{source.location}\0{subdir}".encode()).hexdigest()[:12]
    directory = cache_root() / "trees" / f"{pin.commit}-{key}" / name
    if not directory.is_dir():
        directory.parent.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="new-", dir=directory.parent.parent))
        try:
            cache.export(pin.commit, subdir, scratch / name)
            try:
                os.rename(scratch, directory.parent)
            except OSError:  # made meanwhile by another run
                if not directory.is_dir():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    try:
        bundle = load_bundle_dir(directory)
    except PaxxError as e:
        where = f"{shown}: {subdir + '/' if subdir else ''}"
        raise PaxxError(str(e).replace(f"{directory}/", where).replace(str(directory), where)) from e
    return dataclasses.replace(bundle, source=pin)


def _locate(cache: CachedSource, commit: str, name: str, shown: str) -> str:
    """"" when the repository root is bundle NAME, else `bundles/NAME`."""
    root_name = _bundle_name(cache.read_file(commit, "bundle.toml"))
    if root_name == name:
        return ""
    if cache.read_file(commit, f"bundles/{name}/bundle.toml") is not None:
        return f"bundles/{name}"
    there = [n for n in cache.list_dir(commit, "bundles")
             if cache.read_file(commit, f"bundles/{n}/bundle.toml") is not None]
    if root_name:
        there.insert(0, root_name)
    raise PaxxError(
        f"{shown} has no bundle {name!r}: neither its root bundle.toml is named {name!r} nor is "
        f"there a bundles/{name}/bundle.toml. Bundles there: {', '.join(there) or 'none'}."
    )


def _bundle_name(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        name = tomllib.loads(raw.decode()).get("name")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None
    return name if isinstance(name, str) else None
