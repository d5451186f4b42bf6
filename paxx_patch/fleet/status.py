"""`paxx-patch fleet status`: which component versions each repository of an all-repos
config runs, read from the clones all-repos keeps (`all-repos-clone`), no network.

For each clone: every paxx-patch.lock its default branch tracks (a monorepo may
hold several), each component's installed version beside the newest built-in
one, the owned files whose content is no longer what paxx-patch wrote (what
`paxx-patch verify` would flag, ejected files aside), and what is pending: a
paxx-patch fleet branch not merged yet, or an update waiting in
refs/paxx-patch/pending.

    paxx-patch fleet status -C all-repos.json
    paxx-patch fleet status --json --require 'metrics>=1.3' --require redis

Exit 1 when a repository drifts from a `--require` policy (the component missing,
or at a version outside the range); 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from all_repos import cli

from paxx_patch.fleet import load
from paxx_patch.runtime.errors import PaxxError

LOCK_NAME = "paxx-patch.lock"
PENDING = ("refs/remotes/origin/all-repos_autofix_paxx-patch-", "refs/paxx-patch/pending/")


@dataclass
class Component:
    name: str
    version: str
    latest: str  # "" when the component is not a built-in one (its source is not read)
    lock: str
    edited: list[str] = field(default_factory=list)


@dataclass
class Repository:
    repo: str
    path: str
    components: list[Component] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    error: str = ""


def _git(path: str, *args: str) -> bytes:
    return subprocess.run(["git", "-C", path, *args], check=True, capture_output=True).stdout


def latest_versions() -> dict[str, str]:
    from paxx_patch.bundle import builtin_bundles_dir, load_bundle_dir

    return {
        d.name: load_bundle_dir(d).version
        for d in sorted(builtin_bundles_dir().iterdir()) if (d / "bundle.toml").is_file()
    }


def repository_status(repo: str, path: str, latest: Mapping[str, str]) -> Repository:
    from paxx_patch.manifest import decode_lock, parse_lock

    found = Repository(repo, path)
    try:
        locks = [p.decode() for p in _git(path, "ls-files", "-z", "--", f":(glob)**/{LOCK_NAME}").split(b"\0") if p]
        refs = _git(path, "for-each-ref", "--format=%(refname)", *(f"{p}*" for p in PENDING)).decode()
    except subprocess.CalledProcessError as e:
        found.error = f"not a repository git can read: {e.stderr.decode(errors='replace').strip()}"
        return found
    found.pending = [r.removeprefix("refs/remotes/origin/") for r in refs.split()]
    for lock_path in locks:
        prefix = posixpath.dirname(lock_path)
        try:
            lock = parse_lock(decode_lock(_git(path, "show", f"HEAD:{lock_path}"), lock_path), lock_path)
        except (PaxxError, subprocess.CalledProcessError) as e:
            found.error = str(e).splitlines()[0] if str(e) else f"{lock_path} cannot be read"
            continue
        owned = {
            posixpath.join(prefix, p): blob
            for record in lock.components.values() for p, blob in record.verified_files().items()
        }
        actual = _blobs(path, sorted(owned))
        for record in sorted(lock.components.values(), key=lambda r: r.name):
            edited = sorted(
                posixpath.join(prefix, p) for p, blob in record.verified_files().items()
                if actual.get(posixpath.join(prefix, p)) != blob
            )
            latest_version = latest.get(record.name, "") if record.source is None else ""
            found.components.append(Component(record.name, record.version, latest_version, lock_path, edited))
    return found


def _blobs(path: str, paths: Sequence[str]) -> dict[str, str]:
    """Blob id of each path at HEAD (absent: not there)."""
    if not paths:
        return {}
    out = _git(path, "ls-tree", "-z", "--full-tree", "HEAD", "--", *paths).decode()
    blobs = {}
    for entry in filter(None, out.split("\0")):
        meta, _, name = entry.partition("\t")
        blobs[name] = meta.split()[2]
    return blobs


def drift(repos: Sequence[Repository], required: Sequence[str]) -> list[str]:
    """One line per repository and policy it breaks."""
    from packaging.requirements import InvalidRequirement, Requirement

    policies = []
    for text in required:
        try:
            policies.append(Requirement(text))
        except InvalidRequirement as e:
            raise PaxxError(f"--require {text!r}: {e}; write a component and a version range, "
                            "e.g. --require 'metrics>=1.3'") from None
    lines = []
    for repo in repos:
        versions = {c.name: c.version for c in repo.components}
        for policy in policies:
            version = versions.get(policy.name)
            if version is None:
                lines.append(f"{repo.repo}: {policy.name} is not installed ({policy})")
            elif policy.specifier and not policy.specifier.contains(version, prereleases=True):
                lines.append(f"{repo.repo}: {policy.name} {version} is outside {policy.specifier}")
    return lines


def _table(repos: Sequence[Repository]) -> list[str]:
    rows = [("repository", "component", "installed", "latest", "edited", "pending")]
    for repo in repos:
        pending = ", ".join(repo.pending)
        if repo.error:
            rows.append((repo.repo, "(error)", "", "", repo.error, pending))
        if not repo.components and not repo.error:
            rows.append((repo.repo, "-", "", "", "", pending))
        for c in repo.components:
            rows.append((repo.repo, c.name, c.version, c.latest or "?", ", ".join(c.edited) or "-", pending))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="paxx-patch fleet status",
        description="Component versions, hand edits and pending changes across the clones "
                    "of an all-repos config.")
    cli.add_common_args(parser)
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.add_argument("--require", action="append", default=[], metavar="SPEC",
                        help="a policy, e.g. 'metrics>=1.3' (repeatable): exit 1 when a repository breaks it")
    args = parser.parse_args(argv)
    config = load(args.config_filename)
    latest = latest_versions()
    repos = [
        repository_status(name, os.path.join(config.output_dir, name), latest)
        for name in sorted(config.get_cloned_repos())
    ]
    lines = drift(repos, args.require)
    if args.json:
        print(json.dumps({"repositories": [asdict(r) for r in repos], "drift": lines}, indent=2))
    else:
        print("\n".join(_table(repos)))
        if lines:
            print(f"\n{len(lines)} repositor{'ies' if len(lines) != 1 else 'y'} drift from the policy:")
            print("\n".join(f"  {line}" for line in lines))
    return 1 if lines else 0


if __name__ == "__main__":
    raise SystemExit(main())
