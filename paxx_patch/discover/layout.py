"""Where the project's modules are imported from, and where the services package goes.

Rules:
- the import root is the directory the project's own absolute imports resolve
  from (`from app.core.config import settings` in backend/app/main.py: backend/),
  the most common among the modules read; else (relative imports only) where the
  run command's target (`uvicorn app.main:app`) resolves from; else the first
  directory above the settings module that is not a package (no `__init__.py`);
- the services package goes inside the project's top-level package, the one the
  settings object lives in (`app/services/`, imported as `app.services`), or the
  app's when the settings module sits at the import root; a flat project (both
  at the import root) gets `services/` there;
- what is written must ship: a Dockerfile that copies the app module must copy
  the services package too, and a wheel whose packages are listed must list it;
  otherwise paxx-patch refuses and names the `services_dir` to set.
"""

from __future__ import annotations

import ast
import itertools
import json
import posixpath
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from paxx_patch.discover import FileReader, decode, join
from paxx_patch.discover.modules import Modules
from paxx_patch.discover.tree import Tree, dotted, ignored, import_root
from paxx_patch.runtime.errors import PaxxError

DOCKERFILE = re.compile(r"(^|/)[\w.-]*Dockerfile[\w.-]*$")


@dataclass(frozen=True)
class Placement:
    import_root: str
    services_dir: str
    services_package: str
    rule: str


def find_import_root(
    modules: Modules, tree: Tree, anchor: str, target_root: str | None = None, project: str = "",
) -> tuple[str, str]:
    """(import root, rule) for the project module `anchor`; `target_root` is where the
    run command's `pkg.module:app` resolves from, for a project whose own imports
    are all relative. Imports of a package above the `project` directory (a library
    its server installs) say nothing about where the project's own resolve from."""
    votes: Counter[str] = Counter()
    for path in list(modules.parsed()):
        module = modules.parse(path)
        for node in ast.walk(module) if module else []:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                source = tree.resolve(node.module, near=path)
                root = import_root(source, node.module) if source else None
                if root is not None and "." in node.module and (
                    anchor.startswith(f"{root}/") or not root
                ) and (not project or root == project or root.startswith(f"{project}/")):
                    votes[root] += 1
    if votes:
        root, _ = votes.most_common(1)[0]
        return root, "where the project's absolute imports resolve from"
    if target_root is not None and (anchor.startswith(f"{target_root}/") or not target_root):
        return target_root, "where the run command's ASGI target resolves from"
    directory = posixpath.dirname(anchor)
    while directory and join(directory, "__init__.py") in tree:
        directory = posixpath.dirname(directory)
    return directory, "first directory above the settings module without __init__.py"


def place_services(
    tree: Tree, root: str, import_root_: str, settings_file: str, app_file: str | None,
) -> Placement:
    for anchor in (settings_file, app_file):
        if anchor is None:
            continue
        module = dotted(anchor, import_root_)
        if "." in module:
            top = module.split(".")[0]
            return Placement(
                import_root_, join(import_root_, f"{top}/services"), f"{top}.services",
                f"inside the top-level package {top} of {anchor}",
            )
    return Placement(import_root_, join(import_root_, "services"), "services",
                     "a flat project: beside its modules at the import root")


def check_shipped(
    tree: Tree, root: str, services_dir: str, shipped_with: str | None,
    images: list[tuple[str, str, list[str], int]], pyproject: dict[str, Any],
) -> None:
    """Refuse a services directory the project's image (`images`: see `dockerfiles`) or
    wheel would leave out."""
    probe = f"{services_dir}/__init__.py"
    if shipped_with is not None:
        for dockerfile, context, sources, line in images:
            if _copied(shipped_with, context, sources) and not _copied(probe, context, sources):
                packages = [
                    join(context, s.lstrip("/")) for s in sources if s not in (".", "/")
                    and tree.has_prefix(join(context, s.lstrip("/")))
                ]
                if packages:
                    suggestion = posixpath.relpath(join(packages[0], "services"), root or ".")
                    how = f'set [tool.paxx-patch] services_dir = "{suggestion}"'
                else:
                    how = (f"add `COPY {posixpath.relpath(services_dir, context or '.')}/ ...` to "
                           f"{dockerfile}, or set [tool.paxx-patch] services_dir to a package it "
                           "copies")
                raise PaxxError(
                    f"{dockerfile}:{line}: the image copies {shipped_with} but not "
                    f"{services_dir}/, where the components' modules would go, so they would "
                    f"be missing at run time: {how}. Nothing was changed."
                )
    packages = wheel_packages(pyproject)
    # the wheel matters only when it ships the app: an app beside the library (a server/
    # directory with its own Dockerfile) is shipped another way
    if packages and (shipped_with is None or in_wheel(packages, root, shipped_with)) and not in_wheel(
        packages, root, probe
    ):
        raise PaxxError(
            f"{join(root, 'pyproject.toml')}: the wheel ships {', '.join(packages)} but not "
            f"{posixpath.relpath(services_dir, root or '.')}/. Set [tool.paxx-patch] "
            f'services_dir = "{packages[0].rstrip("/")}/services", then run paxx-patch again.'
        )


def in_wheel(packages: list[str], root: str, path: str) -> bool:
    """Is `path` in one of the wheel's `packages` (paths relative to the project `root`)?"""
    relative = posixpath.relpath(path, root or ".")
    return any(p in (".", "") or relative.startswith(p.rstrip("/") + "/") for p in packages)


def wheel_packages(pyproject: dict[str, Any]) -> list[str]:
    """Directories the wheel ships, when the build configuration lists them."""
    tool = pyproject.get("tool", {})
    hatch = tool.get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
    if isinstance(hatch, dict) and isinstance(hatch.get("packages"), list):
        return [str(p) for p in hatch["packages"]]
    poetry = tool.get("poetry", {}).get("packages")
    if isinstance(poetry, list):
        # `include = "pkg"` or `"pkg/**/*"` (the directory before the first pattern);
        # single files such as `pyproject.toml` are no package
        out = []
        for p in poetry:
            if not isinstance(p, dict) or not isinstance(p.get("include"), str):
                continue
            parts = p["include"].split("/")
            plain = list(itertools.takewhile(lambda part: not any(c in part for c in "*?["), parts))
            if not plain or (len(plain) == len(parts) and "." in plain[-1]):
                continue
            out.append(posixpath.normpath(posixpath.join(str(p.get("from", ".")), *plain)))
        return out
    setuptools = tool.get("setuptools", {}).get("packages")
    if isinstance(setuptools, list):
        return sorted({str(p).split(".")[0] for p in setuptools})
    return []


def built_services(compose_data: Any, compose_path: str) -> dict[str, tuple[str, str]]:
    """Service -> (its Dockerfile, its build context), repository paths, of each
    service of the compose file that has `build:`."""
    out: dict[str, tuple[str, str]] = {}
    services = compose_data.get("services") if isinstance(compose_data, dict) else None
    for name, svc in services.items() if isinstance(services, dict) else []:
        build = svc.get("build") if isinstance(svc, dict) else None
        if build is None:
            continue
        context = build.get("context", ".") if isinstance(build, dict) else str(build)
        dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        context = join(posixpath.dirname(compose_path), context)
        out[str(name)] = (join(context, str(dockerfile)), context)
    return out


def image_name(image: str) -> str:
    """`docker.io/library/redis:7-alpine@sha256:...` -> `redis`."""
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/", "library/"):
        name = name.removeprefix(prefix)
    return name.lower()


def dockerfiles(
    files: FileReader, tree: Tree, compose_data: Any, compose_path: str,
) -> list[tuple[str, str, list[str], int]]:
    """(Dockerfile, build context, COPY/ADD sources, line of the first COPY) of each
    Dockerfile outside tests; contexts from the compose file's `build:` entries."""
    contexts = dict(built_services(compose_data, compose_path).values())
    paths = [p for p in tree.named(DOCKERFILE, ("dockerfile",)) if not ignored(p)]
    files.load(paths)
    out = []
    for path in paths:
        raw = files.get(path)
        if raw is None:
            continue
        text = decode(path, raw).replace("\\\n", " \n")
        sources: list[str] = []
        first = 0
        for number, line in enumerate(text.split("\n"), 1):
            words = line.split()
            if not words or words[0].upper() not in ("COPY", "ADD"):
                continue
            if any(w.startswith("--from") for w in words):
                continue  # from another stage: not the build context
            args = [w for w in words[1:] if not w.startswith("--")]
            if args and args[0].startswith("["):
                try:
                    args = [str(a) for a in json.loads(" ".join(args))]
                except ValueError:
                    continue
            sources += [a.rstrip("/") or "." for a in args[:-1]]
            first = first or number
        if sources:
            out.append((path, contexts.get(path, posixpath.dirname(path)), sources, first))
    return out


# Base images of services that build something other than the app: a JavaScript
# frontend, a web server in front of it
NOT_THE_APP_IMAGES = frozenset({
    "node", "oven/bun", "denoland/deno", "nginx", "nginxinc/nginx-unprivileged", "caddy", "httpd",
    "traefik",
})


def services_not_the_app(files: FileReader, compose_data: Any, compose_path: str) -> tuple[str, ...]:
    """The compose services that build from a Dockerfile whose first stage starts from
    a JavaScript runtime or a web server image (`FROM node:alpine`): a frontend beside
    the app, never the service that runs it."""
    wanted = {name: dockerfile for name, (dockerfile, _) in built_services(compose_data, compose_path).items()}
    files.load(wanted.values())
    found: list[str] = []
    for name, path in wanted.items():
        raw = files.get(path)
        first = next((line.split() for line in decode(path, raw).splitlines()
                      if line.split()[:1] and line.split()[0].upper() == "FROM"), None) if raw else None
        image = next((w for w in (first or [])[1:] if not w.startswith("--")), "")
        if image_name(image) in NOT_THE_APP_IMAGES:
            found.append(name)
    return tuple(found)


def _copied(path: str, context: str, sources: list[str]) -> bool:
    relative = posixpath.relpath(path, context or ".")
    if relative.startswith("../"):
        return False
    for source in sources:
        source = posixpath.normpath(source.lstrip("/"))
        if source == "." or relative == source or relative.startswith(source + "/"):
            return True
        if "*" in source and re.fullmatch(source.replace(".", r"\.").replace("*", "[^/]*"), relative):
            return True
    return False
