"""paxx-patch status: what is installed, at which version, and what drifted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paxx_patch.bundle import available, load_bundle_dir
from paxx_patch.commands.common import open_plan, open_project
from paxx_patch.lock import blob_id, parse_lock


def collect_status(project_dir: str | None, bundle_path: Sequence[str], cwd: Path | None = None) -> dict[str, Any]:
    git, base, root = open_project(cwd, project_dir)
    _, project = open_plan(git, base, root)
    lock_path = git.top / project.lock_file
    text = lock_path.read_text(encoding="utf-8-sig") if lock_path.is_file() else ""
    lock = parse_lock(text, project.lock_file)
    bundles = available(bundle_path)
    components = {}
    for name, record in sorted(lock.components.items()):
        bundled = load_bundle_dir(bundles[name]).version if name in bundles else None
        modified, missing = [], []
        for relative, oid in sorted(record.verified_files().items()):
            file = git.top / project.path(relative)
            if not file.is_file():
                missing.append(relative)
            elif blob_id(file.read_bytes()) != oid:
                modified.append(relative)
        components[name] = {
            "version": record.version,
            "bundled_version": bundled,
            "update_available": bundled is not None and bundled != record.version,
            "files": sorted(record.files),
            "modified": modified,
            "missing": missing,
            "ejected": sorted(record.ejected),
            "variables": record.variables,
        }
    return {"project": project.to_json(), "components": components}


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
        print(f"{name} {c['version']}{newer}")
        for label in ("modified", "missing", "ejected"):
            for path in c[label]:
                print(f"  {label}: {path}")
    return 0
