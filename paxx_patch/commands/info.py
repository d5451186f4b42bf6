"""paxx-patch list / show: what components exist and what each adds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paxx_patch.bundle import Bundle, available, load_bundle, load_bundle_dir
from paxx_patch.runtime.errors import PaxxError


def _installed(project_dir: str | None) -> dict[str, str]:
    """Installed component -> version, from the working tree's lock (if any)."""
    from paxx_patch.manifest import LOCK_NAME, parse_lock

    try:
        from paxx_patch.git.repo import discover

        top = discover(Path.cwd()).top
    except PaxxError:
        return {}
    path = top / (project_dir or ".") / LOCK_NAME
    if not path.is_file():
        return {}
    lock = parse_lock(path.read_text(encoding="utf-8"), str(path))
    return {n: c.version for n, c in lock.components.items()}


def list_components(*, as_json: bool, bundle_path: Sequence[str], project_dir: str | None) -> int:
    installed = _installed(project_dir)
    bundles = [load_bundle_dir(d) for d in available(bundle_path).values()]
    rows = [
        {"name": b.name, "version": b.version, "description": b.description,
         "installed": installed.get(b.name)}
        for b in bundles
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        mark = f"  (installed {row['installed']})" if row["installed"] else ""
        print(f"{row['name']:<10} {row['version']:<8} {row['description']}{mark}")
    return 0


def describe(bundle: Bundle) -> dict[str, Any]:
    from paxx_patch.bundle.render import render_file
    from paxx_patch.discover.project import Project
    from paxx_patch.edit.yaml_scalar import load_yaml
    from paxx_patch.plan.engine import template_context

    services: list[str] = []
    volumes: list[str] = []
    if bundle.compose_path:
        # the fragment's structure does not depend on the project it goes into
        context = template_context(bundle, Project.paxx_layout(), dict(bundle.variables))
        text = render_file(bundle, "compose.yaml", context)
        data = load_yaml(str(bundle.compose_path), text, lines=False) or {}
        services, volumes = list(data.get("services") or {}), list(data.get("volumes") or {})
    return {
        "name": bundle.name,
        "version": bundle.version,
        "description": bundle.description,
        "requires": list(bundle.requires),
        "observes": list(bundle.observes),
        "files": [f"services/{t}" for t in bundle.templates],
        "services": services,
        "volumes": volumes,
        "services_from_app": {k: list(v) for k, v in bundle.compose_from_app.items()},
        "dependencies": list(bundle.dependencies),
        "conditional_dependencies": [
            {"when": group.when, "dependencies": list(group.dependencies)}
            for group in bundle.conditional_dependencies
        ],
        "settings": [
            {"name": s.name, "type": s.type, "default": s.default, "secret": s.secret,
             "description": s.description}
            for s in bundle.settings
        ],
        "env": [s.env_key for s in bundle.settings],
        "variables": dict(bundle.variables),
        "variable_patterns": {k: v.pattern for k, v in bundle.variable_specs.items()},
    }


def show(*, name: str, as_json: bool, bundle_path: Sequence[str]) -> int:
    info = describe(load_bundle(name, bundle_path))
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['name']} {info['version']}: {info['description']}")
    for label, key in (("requires", "requires"), ("files", "files"), ("compose services", "services"),
                       ("volumes", "volumes"), ("dependencies", "dependencies"),
                       ("env vars", "env")):
        if info[key]:
            print(f"  {label}: {', '.join(info[key])}")
    for other in info["observes"]:
        print(f"  observes {other}: its files are rendered again when {other} is added or removed")
    for service, keys in info["services_from_app"].items():
        print(f"  {service} takes the app service's {', '.join(keys)}")
    for group in info["conditional_dependencies"]:
        print(f"  when the project depends on {group['when']}: {', '.join(group['dependencies'])}")
    for s in info["settings"]:
        shown = "(secret)" if s["secret"] else repr(s["default"])
        print(f"  setting {s['name']}: {s['type']} = {shown}  {s['description']}")
    for key, default in info["variables"].items():
        print(f"  variable {key} = {default!r} (--set {key}=VALUE, matching "
              f"{info['variable_patterns'][key]!r})")
    return 0
