"""Which of the file's services stand for what: the app, and a component's own services.

The app service is the configured one, else the one service that builds the
project directory, else the one that runs the app server, else the one that
publishes ports. A component's long-running service (one with a healthcheck) is
reused when the file already runs the same image (tag aside), or an image of the
same server (`pgvector/pgvector` and `postgis/postgis` are PostgreSQL with
extensions, `valkey/valkey` serves Redis's protocol), under another name: nothing
is added for it, and the component's other services and the app's environment
are pointed at the existing name. Adding a second one would publish the same
port and mount the same data volume twice.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import Any

from paxx_patch.discover.layout import image_name

_SERVERS = re.compile(r"\b(uvicorn|gunicorn|hypercorn|granian|fastapi)\b|\w:app\b")
# a service that runs a task queue's worker from the app's image (the tasks and celery
# components add one) is never the one that serves the app
_WORKERS = re.compile(r"^(python3? -m )?(arq|celery|dramatiq|taskiq|rq|huey_consumer)\b")


def _build_context(service: Any) -> str | None:
    build = service.get("build")
    if isinstance(build, dict):
        build = build.get("context", ".")
    return posixpath.normpath(str(build)) if build is not None else None


def _command(service: Any) -> str:
    parts = [service.get(k) for k in ("command", "entrypoint")]
    return " ".join(" ".join(map(str, p)) if isinstance(p, list) else str(p) for p in parts if p)


def find_app_service(
    root: Any, configured: str | None, context: str, not_the_app: tuple[str, ...] = (),
) -> tuple[str | None, str]:
    """(the app service or None, a note when it is ambiguous).

    `context` is the project directory relative to the compose file's directory;
    `not_the_app`: services that build a frontend (a Dockerfile from a node image)."""
    services = root.get("services") or {}
    if configured:
        return (configured, "") if configured in services else (None, "")
    built = {
        name: svc for name, svc in services.items()
        if isinstance(svc, dict) and svc.get("build") is not None and name not in not_the_app
        and not _WORKERS.match(_command(svc).strip())
    }
    if len(built) <= 1:
        return next(iter(built), None), ""
    rules: tuple[Callable[[Any], bool], ...] = (
        lambda svc: _build_context(svc) == posixpath.normpath(context),
        lambda svc: _SERVERS.search(_command(svc)) is not None,
        lambda svc: bool(svc.get("ports")),
    )
    for rule in rules:
        chosen = [name for name, svc in built.items() if rule(svc)]
        if len(chosen) == 1:
            return chosen[0], ""
        if chosen:
            built = {name: built[name] for name in chosen}
    return None, (
        f"several services build the app ({', '.join(built)}); none was given the "
        "component's environment. Set [tool.paxx-patch] app_service to the one that runs it."
    )


# Images that run the same server as the component's image: a file that runs one of
# them already has the service (PostgreSQL with extensions, Redis-compatible servers,
# S3-compatible MinIO builds).
SAME_SERVER = {
    "postgres": frozenset({
        "pgvector/pgvector", "ankane/pgvector", "postgis/postgis", "timescale/timescaledb",
        "timescale/timescaledb-ha", "bitnami/postgresql", "supabase/postgres",
        "paradedb/paradedb", "tensorchord/pgvecto-rs", "cimg/postgres",
    }),
    "redis": frozenset({
        "redis/redis-stack", "redis/redis-stack-server", "bitnami/redis", "valkey/valkey",
        "bitnami/valkey", "eqalpha/keydb", "docker.dragonflydb.io/dragonflydb/dragonfly",
    }),
    "minio/minio": frozenset({"bitnami/minio", "quay.io/minio/minio"}),
}


def same_server(wanted: str, theirs: str) -> bool:
    """Whether an image named `theirs` serves what the component's `wanted` image does."""
    return theirs == wanted or theirs in SAME_SERVER.get(wanted, ())


def same_image_services(existing: Any, component: dict[str, Any]) -> dict[str, str]:
    """Component service -> existing service of another name running its image (or
    one of the same server)."""
    reused: dict[str, str] = {}
    for name, svc in component.items():
        if name in existing or not isinstance(svc, dict) or "healthcheck" not in svc:
            continue  # present by name, or a one-shot job: never stands in for another
        wanted = image_name(str(svc.get("image", "")))
        match = next((
            other for other, theirs in existing.items()
            if isinstance(theirs, dict) and isinstance(theirs.get("image"), str)
            and same_server(wanted, image_name(theirs["image"])) and not theirs.get("profiles")
        ), None)
        if wanted and match is not None:
            reused[name] = match
    return reused


def point_urls_at(value: str, renames: dict[str, str]) -> str:
    """`redis://redis:6379/0` -> `redis://cache:6379/0` when redis is served by cache;
    the host after a user (`postgresql://app@postgres:5432/app`) as well."""
    for old, new in renames.items():
        value = re.sub(rf"(?:(?<=://)|(?<=@)){re.escape(old)}(?=[:/\"'\s]|$)", new, value)
    return value


def rename_references(
    fragment: str, doc: Any, renames: dict[str, str], healthy: dict[str, bool]
) -> str:
    """The fragment with its services' `depends_on` and URLs naming the reused services.

    `healthy[new]` says whether the reused service has a healthcheck; without one a
    `condition: service_healthy` on it could never be met and becomes `service_started`."""
    lines = fragment.splitlines(keepends=True)
    for svc in (doc.get("services") or {}).values():
        deps: Any = svc.get("depends_on") if isinstance(svc, dict) else None
        if not hasattr(deps, "lc"):
            continue  # none, or the short form: a list of names
        for old, new in renames.items():
            if old not in deps:
                continue
            line, column = deps.lc.key(old)
            lines[line] = lines[line][:column] + lines[line][column:].replace(old, new, 1)
            if not healthy[new] and isinstance(deps[old], dict) and "condition" in deps[old]:
                at = deps[old].lc.value("condition")[0]
                lines[at] = lines[at].replace("service_healthy", "service_started")
    return point_urls_at("".join(lines), renames)


def volumes_used(services: dict[str, Any], names: list[str]) -> set[str]:
    """Named volumes the services `names` mount."""
    used = set()
    for name in names:
        for volume in (services.get(name) or {}).get("volumes") or []:
            source = volume.get("source") if isinstance(volume, dict) else str(volume).split(":", 1)[0]
            if source:
                used.add(str(source))
    return used


def app_networks(service: Any) -> list[str]:
    """The networks the app service is on (none: the default network, no edit needed)."""
    networks = service.get("networks") if isinstance(service, dict) else None
    if service is None or not isinstance(service, dict) or service.get("network_mode"):
        return []
    if isinstance(networks, dict):
        return [str(n) for n in networks]
    if isinstance(networks, list):
        return [str(n) for n in networks]
    return []


def join_networks(block: list[str], networks: list[str]) -> list[str]:
    """A fragment service block (two-space steps) that also joins `networks`."""
    body = "".join(f"      - {n}\n" for n in networks)
    end = len(block)
    while end > 1 and not block[end - 1].strip():
        end -= 1
    return [*block[:end], f"    networks:\n{body}", *block[end:]]
