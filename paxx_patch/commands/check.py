"""paxx-patch check: is any installed component behind? For CI and scheduled jobs.

Each installed component is compared with the newest version there is: the built-in
(or --bundle-path) bundle's version, or for a component from a git repository the
source's newest release tag. Exit 1 when any is behind, 0 when all are current.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paxx_patch.bundle import available, load_bundle_dir, version
from paxx_patch.commands.common import open_plan, open_project
from paxx_patch.manifest import ComponentRecord
from paxx_patch.plan.engine import read_lock
from paxx_patch.runtime.errors import EXIT_FAILED, EXIT_OK, PaxxError


def collect_check(
    *, project_dir: str | None, bundle_path: Sequence[str], offline: bool, cwd: Path | None = None,
) -> dict[str, Any]:
    from paxx_patch.bundle import sources

    git, base, root = open_project(cwd, project_dir)
    plan, project = open_plan(git, base, root)
    lock = read_lock(plan.snapshot, project)
    bundles = available(bundle_path)
    fetched: dict[str, tuple[str, str] | None] = {}  # source location -> newest (tag, commit)
    components = []
    for name, record in sorted(lock.components.items()):
        row = _row(name, record)
        if record.source is not None:
            source = sources.from_pin(record.source, git.top / project.root)
            if source.location not in fetched:
                fetched[source.location] = sources.newest_tag(sources.refresh(source, offline))
            newest = fetched[source.location]
            if newest is not None:
                tag, commit = newest
                release = version.release(tag)
                row.update(latest=".".join(map(str, release or ())), latest_rev=tag,
                           latest_commit=commit)
        elif name in bundles:
            row["latest"] = load_bundle_dir(bundles[name]).version
        row["behind"] = row["latest"] is not None and _newer(row["latest"], record.version)
        components.append(row)
    return {
        "components": components,
        "behind": [c["name"] for c in components if c["behind"]],
        "offline": offline,
    }


def _row(name: str, record: ComponentRecord) -> dict[str, Any]:
    return {
        "name": name,
        "installed": record.version,
        "source": record.source.to_table() if record.source is not None else None,
        "latest": None,
        "latest_rev": None,
        "latest_commit": None,
    }


def _newer(latest: str, installed: str) -> bool:
    try:
        return version.order(latest) > version.order(installed)
    except PaxxError:  # a version in the lock that is no semver: not comparable, not behind
        return False


def check(*, as_json: bool, project_dir: str | None, bundle_path: Sequence[str], offline: bool) -> int:
    report = collect_check(project_dir=project_dir, bundle_path=bundle_path, offline=offline)
    if as_json:
        print(json.dumps(report, indent=2))
        return EXIT_FAILED if report["behind"] else EXIT_OK
    if not report["components"]:
        print("no components installed; nothing to check.")
    for c in report["components"]:
        origin = f" from {c['source']['url']} ({c['source']['rev']})" if c["source"] else ""
        if c["behind"]:
            to = f" ({c['latest_rev']})" if c["latest_rev"] else ""
            print(f"{c['name']} {c['installed']}{origin}: behind, {c['latest']}{to} is available "
                  f"(`paxx-patch update {c['name']}`)")
        elif c["latest"] is None:
            print(f"{c['name']} {c['installed']}{origin}: no newer version known "
                  "(no bundle of that name here, or no release tag in its source)")
        else:
            print(f"{c['name']} {c['installed']}{origin}: up to date")
    if report["behind"]:
        print(f"\n{len(report['behind'])} of {len(report['components'])} components behind: "
              f"run `paxx-patch update {' '.join(report['behind'])}`.")
    return EXIT_FAILED if report["behind"] else EXIT_OK
