"""paxx-patch status: what is installed, at which version, and what drifted."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from paxx_patch.bundle import available, load_bundle_dir
from paxx_patch.commands.common import open_plan, open_project
from paxx_patch.git.repo import Git
from paxx_patch.manifest import blob_id, decode_lock, object_format_of, parse_lock
from paxx_patch.plan.engine import settle
from paxx_patch.runtime.paths import symlinked_parent


def collect_status(project_dir: str | None, bundle_path: Sequence[str], cwd: Path | None = None) -> dict[str, Any]:
    git, base, root = open_project(cwd, project_dir)
    settle(git)  # an interrupted landing is reported as it ends, not as it was left
    _, project = open_plan(git, base, root)
    lock_path = git.top / project.lock_file
    raw = lock_path.read_bytes() if lock_path.is_file() else None
    lock = parse_lock(decode_lock(raw, project.lock_file), project.lock_file)
    bundles = available(bundle_path)
    components = {}
    for name, record in sorted(lock.components.items()):
        # a component from a git repository is compared with its source by `check`
        bundled = (load_bundle_dir(bundles[name]).version
                   if name in bundles and record.source is None else None)
        modified, missing = [], []
        for relative, oid in sorted(record.verified_files().items()):
            repo_path = project.path(relative)
            file = git.top / repo_path
            if symlinked_parent(str(git.top), repo_path) or not file.is_file():
                missing.append(relative)  # git does not look past a symlinked directory
            elif blob_id(file.read_bytes(), object_format_of(oid)) != oid:
                modified.append(relative)
        modified = _as_git_sees_them(git, project.path, modified, record.files)
        components[name] = {
            "version": record.version,
            "bundled_version": bundled,
            "update_available": bundled is not None and bundled != record.version,
            "files": sorted(record.files),
            "modified": modified,
            "missing": missing,
            "ejected": sorted(record.ejected),
            "variables": record.variables,
            "source": record.source.to_table() if record.source is not None else None,
        }
    described = project.to_json()
    if described["app_service"] is None:
        # not configured: the service the components' environment went into, as recorded
        described["app_service"] = next((
            entry["app_service"] for record in lock.components.values()
            if isinstance(entry := record.entries.get("compose"), dict)
            and isinstance(entry.get("app_service"), str)
        ), None)
    return {"project": described, "components": components}


def _as_git_sees_them(
    git: Git, path_of: Callable[[str], str], modified: list[str], ids: dict[str, str]
) -> list[str]:
    """Keep the files whose content, converted as git would store it (autocrlf,
    `text`/`eol` attributes), still differs from the pristine blob."""
    if not modified:
        return modified
    paths = "".join(f"{path_of(p)}\n" for p in modified).encode()
    out = git.run("hash-object", "--stdin-paths", input=paths, check=False).stdout.decode().split()
    if len(out) != len(modified):
        return modified
    return [p for p, oid in zip(modified, out, strict=True) if oid != ids[p]]


def status(*, as_json: bool, project_dir: str | None, bundle_path: Sequence[str]) -> int:
    info = collect_status(project_dir, bundle_path)
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    p = info["project"]
    print(f"settings: {p['settings_class']} in {p['settings_file']}")
    print(f"compose: {p['compose_file']}   dependencies: {p['dependency_file']} ({p['dependency_style']})")
    print(f"app: {p['app_file'] or '(not found)'}   services: {p['services_dir']}/")
    if not info["components"]:
        print("no components installed; see `paxx-patch list`.")
    for name, c in info["components"].items():
        newer = f" (bundled {c['bundled_version']}: `paxx-patch update {name}`)" if c["update_available"] else ""
        origin = f" from {c['source']['url']} at {c['source']['rev']}" if c["source"] else ""
        print(f"{name} {c['version']}{origin}{newer}")
        for label in ("modified", "missing", "ejected"):
            for path in c[label]:
                print(f"  {label}: {path}")
    return 0
