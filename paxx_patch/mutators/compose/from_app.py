"""Services that run the app's own code (a task worker): keys taken from the app service.

A bundle names them declaratively (`[compose_from_app] worker = ["build",
"environment", "depends_on"]`). Once the rest of the compose edit is made, the
app service is read back (merges and anchors resolved, its new environment
included) and each such service is written as the fragment's definition with the
app's values of those keys in front: the same image or build, the same
environment, waiting for the same services. `depends_on` is the app's joined
with the fragment's own, kept to services the file has.
"""

from __future__ import annotations

import io
from typing import Any, TypeGuard

_CODE_KEYS = ("build", "image")


def service_text(
    name: str, fragment_service: dict[str, Any], app_service: dict[str, Any],
    keys: tuple[str, ...], file_services: dict[str, Any],
) -> str:
    """The service `name` as a block at two-space steps (`  name:` first). The
    fragment's wait for a service to be healthy becomes a wait for it to start where
    the file's service has no healthcheck (a redis of the project's own): compose
    would refuse to start the worker otherwise."""
    service: dict[str, Any] = {}
    for key in keys:
        if key in app_service and key != "depends_on":
            service[key] = app_service[key]
    depends = _long_form(app_service.get("depends_on")) if "depends_on" in keys else {}
    for other, wait in _long_form(fragment_service.get("depends_on")).items():
        there = file_services.get(other)
        if wait.get("condition") == "service_healthy" and isinstance(there, dict) and "healthcheck" not in there:
            wait = {**wait, "condition": "service_started"}
        depends[other] = wait
    for key, value in fragment_service.items():
        if key != "depends_on":
            service[key] = value
    depends = {k: v for k, v in depends.items() if k in file_services and k != name}
    if depends:
        service["depends_on"] = depends
    return dump({name: service}, indent=2)


def runs_the_app(app_service: Any) -> TypeGuard[dict[str, Any]]:
    """Whether the app service says where its code comes from (a build or an image)."""
    return isinstance(app_service, dict) and any(k in app_service for k in _CODE_KEYS)


def _long_form(depends: Any) -> dict[str, Any]:
    if isinstance(depends, dict):
        return {str(k): dict(v) if isinstance(v, dict) else {"condition": "service_started"}
                for k, v in depends.items()}
    if isinstance(depends, list):
        return {str(k): {"condition": "service_started"} for k in depends}
    return {}


def dump(data: dict[str, Any], indent: int = 0) -> str:
    """`data` as block YAML, every line indented by `indent` spaces."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # one scalar, one line
    out = io.StringIO()
    yaml.dump(data, out)
    return "".join(" " * indent + line if line.strip() else line
                   for line in out.getvalue().splitlines(keepends=True))
