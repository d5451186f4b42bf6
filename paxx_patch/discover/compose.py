"""The compose file that runs the app, wherever it is in the repository.

Rules: the configured `compose_file`; else, of every Compose-spec file in the
repository (overrides aside; tests and hidden directories skipped), the one with
a service that builds the project directory (or runs the app server), the
nearest to the project first; else the first Compose-spec name in the project
directory or a directory above it. A new `docker-compose.yml` is made only when
the repository has no compose file at all; with compose files elsewhere that
run no app, paxx-patch asks for `compose_file` instead of guessing.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from paxx_patch.discover import FileReader, decode, join
from paxx_patch.discover.tree import Tree, common_depth, ignored
from paxx_patch.errors import PaxxError

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_NAMES = tuple(n.replace(".y", ".override.y") for n in COMPOSE_NAMES)
ANY_COMPOSE = re.compile(r"(^|/)(docker-)?compose(\.[\w-]+)?\.ya?ml$")
CONFIGURE = '[tool.paxx-patch] compose_file = "path/to/compose.yaml"'


@dataclass(frozen=True)
class ComposeFound:
    path: str
    rule: str
    created: bool = False
    data: Any = None  # the parsed file (plain data), when it was read


def parents(root: str) -> list[str]:
    """The project directory, then each directory above it up to the repository root."""
    out = [root]
    while root:
        root = posixpath.dirname(root)
        out.append(root)
    return out


def find_compose(files: FileReader, tree: Tree, root: str, configured: str | None) -> ComposeFound:
    if configured:
        return ComposeFound(join(root, configured), "configured compose_file")
    everywhere = [
        p for p in tree.named(ANY_COMPOSE, ("compose",))
        if not ignored(p) and ".override." not in p and not p.startswith(".github/")
    ]
    files.load(everywhere)
    near = f"{root}/x" if root else "x"
    ranked = sorted(everywhere, key=lambda p: (
        posixpath.dirname(p) not in parents(root), -common_depth(p, near),
        posixpath.basename(p) not in COMPOSE_NAMES, p.count("/"), p,
    ))
    for path in ranked:
        data = _load(path, files.get(path))
        service = _app_service(data, path, root)
        if service:
            return ComposeFound(path, f"defines the app service {service!r}", data=data)
    for directory in parents(root):
        for name in COMPOSE_NAMES:
            path = join(directory, name)
            if path in tree:
                return ComposeFound(path, f"first Compose-spec name in {directory or '.'}/")
    if len(everywhere) == 1:
        return ComposeFound(everywhere[0], "the repository's only compose file (no app service in it)",
                            data=_load(everywhere[0], files.get(everywhere[0])))
    if everywhere:
        raise PaxxError(
            f"none of the compose files in the repository ({', '.join(ranked[:5])}) has a "
            "service that builds or runs the app, so paxx-patch does not know where to add "
            f"services. Set {CONFIGURE} (or app_service), then run paxx-patch again."
        )
    return ComposeFound(join(root, "docker-compose.yml"), "none in the repository: created",
                        created=True)


def _load(path: str, raw: bytes | None) -> Any:
    if raw is None:
        return None
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe").load(decode(path, raw))
    except RecursionError:
        raise PaxxError(
            f"{path}: nested too deeply to be a compose file (the parser gave up). "
            "Fix it and commit it, or point [tool.paxx-patch] compose_file at the real one."
        ) from None
    except (YAMLError, PaxxError, ValueError):
        return None


_SERVER = re.compile(r"\b(uvicorn|gunicorn|hypercorn|granian|fastapi)\b")


def _app_service(data: Any, path: str, root: str) -> str | None:
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        return None
    base = posixpath.dirname(path)
    for name, svc in services.items():
        if not isinstance(svc, dict):
            continue
        build = svc.get("build")
        context = build.get("context", ".") if isinstance(build, dict) else build
        if isinstance(context, str) and not context.startswith(("http", "git@")):
            built = posixpath.normpath(posixpath.join(base or ".", context))
            built = "" if built == "." else built
            if built == root or root.startswith(f"{built}/") or not built:
                return str(name)
        command = svc.get("command") or svc.get("entrypoint") or ""
        if _SERVER.search(" ".join(map(str, command)) if isinstance(command, list) else str(command)):
            return str(name)
    return None


def overrides(tree: Tree, compose: str) -> tuple[str, ...]:
    directory = posixpath.dirname(compose)
    return tuple(join(directory, n) for n in OVERRIDE_NAMES if join(directory, n) in tree)
