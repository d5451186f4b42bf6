"""The compose file that runs the app, wherever it is in the repository.

Rules: the configured `compose_file`; else, of every Compose-spec file in the
repository (overrides aside; tests and hidden directories skipped), the one with
a service that builds the project directory (or runs the app server), the
nearest to the project first; else (the compose files hold only databases, or
are split into dev and prod files) the main one, said so in a note: the nearest
to the project (its directory, then each above it, then elsewhere by depth), a
Compose-spec name before a variant, a dev or local variant before another and
the production ones last. A new `docker-compose.yml` is made only when the
repository has no compose file at all.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from paxx_patch.discover import FileReader, decode, join
from paxx_patch.discover.tree import Tree, common_depth, ignored
from paxx_patch.runtime.errors import PaxxError

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
    note: str = ""  # told to the user: why this file, when it does not run the app


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
    if not everywhere:
        return ComposeFound(join(root, "docker-compose.yml"), "none in the repository: created",
                            created=True)
    main = min(everywhere, key=lambda p: _main_rank(p, root))
    where = posixpath.dirname(main) or "."
    rule = (f"the main compose file ({_main_reason(main, root)}); none of "
            f"{', '.join(sorted(everywhere)[:5])} has a service that builds or runs the app")
    return ComposeFound(main, rule, data=_load(main, files.get(main)), note=(
        f"no compose file has a service that builds or runs the app, so the components' "
        f"services go into the main one, {main} (in {where}/); their environment for the app "
        f"is in the env example. Set {CONFIGURE} (or app_service) to choose another."
    ))


# compose file variants by name, the one a developer runs first: `docker-compose.dev.yml`
# before one of its own (`docker-compose.db.yml`), before the production ones
_DEV = re.compile(r"(?i)^(dev|develop|development|local)$")
_PROD = re.compile(r"(?i)^(prod|production|staging|stage|deploy)$")


def _variant(path: str) -> str:
    name = posixpath.basename(path)
    stem = name.removeprefix("docker-").removeprefix("compose").rsplit(".", 1)[0]
    return stem.strip(".-_")


def _main_rank(path: str, root: str) -> tuple[int, int, int, str]:
    variant = _variant(path)
    kind = 0 if not variant else 1 if _DEV.match(variant) else 3 if _PROD.match(variant) else 2
    directory = posixpath.dirname(path)
    distance = parents(root).index(directory) if directory in parents(root) else 100 + path.count("/")
    return distance, kind, len(path), path


def _main_reason(path: str, root: str) -> str:
    variant = _variant(path)
    place = ("the project's directory" if posixpath.dirname(path) == root else
             "a directory above the project" if posixpath.dirname(path) in parents(root)
             else "the nearest to the project")
    if not variant:
        return f"the Compose-spec name in {place}"
    if _DEV.match(variant):
        return f"the development file in {place}"
    return f"the first by name in {place}"


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
