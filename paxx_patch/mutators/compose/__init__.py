"""compose: services, volumes and app-service wiring merged into the compose file.

ruamel.yaml reads the file to learn its structure (where each block starts and
ends, how it is indented); the new entries are then inserted as text, so every
existing byte — comments, quotes, anchors, `<<:` merges, flow style, even a
YAML 1.1 `restart: no` — stays exactly as written. The result is parsed again
to prove the edit is what was meant.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from paxx_patch.bundle.render import render_string
from paxx_patch.discover.layout import image_name
from paxx_patch.edit.text import TextFile
from paxx_patch.edit.yaml_scalar import load_yaml
from paxx_patch.mutators import Context
from paxx_patch.mutators.compose.app_service import (
    TextEdit,
    _env_names,
    _key_end,
    wire_app_service,
)
from paxx_patch.mutators.compose.images import swap_images
from paxx_patch.mutators.compose.match import (
    app_networks,
    find_app_service,
    join_networks,
    point_urls_at,
    rename_references,
    same_image_services,
    volumes_used,
)
from paxx_patch.mutators.compose.remove import removal_spans
from paxx_patch.runtime.errors import PaxxError


def check_shape(path: str, root: Any) -> None:
    """The top level, `services` and `volumes` are mappings, as the mutator needs."""
    if not isinstance(root, dict):
        raise PaxxError(f"{path}: the top level must be a mapping with `services:`. "
                        "Fix the file (see the Compose specification) and commit it.")
    for key in ("services", "volumes"):
        value = root.get(key)
        if value is not None and not isinstance(value, dict):
            line = int(root.lc.key(key)[0]) + 1 if hasattr(root, "lc") else 1
            raise PaxxError(
                f"{path}:{line}: `{key}` must be a mapping of names to definitions, "
                f"not a {type(value).__name__}; write `{key}:` followed by indented "
                "`name:` entries. Fix the file and commit it."
            )


class ComposeMutator:
    name = "compose"

    def paths(self, ctx: Context) -> Sequence[str]:
        # a bundle with no services of its own may still give the app service variables
        wanted = ctx.compose_fragment or ctx.bundle.app_environment or ctx.bundle.compose_images
        return [ctx.project.compose_file] if wanted else []

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        if ctx.removing is not None:
            return self._remove(path, old, ctx.removing.entries.get(self.name, {}))
        fragment = load_yaml(f"{ctx.bundle.directory}/compose.yaml", ctx.compose_fragment) or {}
        check_shape(f"{ctx.bundle.directory}/compose.yaml", fragment)
        services = dict(fragment.get("services") or {})
        volumes = list(fragment.get("volumes") or {})
        if old is None and not services:
            if ctx.bundle.compose_images and ctx.previous is None:
                ctx.warnings.append(self._no_image_warning(path, ctx))
            return None  # only changes to services, and no compose file holding them
        from_app = [n for n in services if n in ctx.bundle.compose_from_app]
        if old is None and from_app:
            # a worker runs the app's image: without an app service it has none
            ctx.notes.append(self._outside_compose_note(path, from_app, ctx))
            if len(from_app) == len(services):
                return None
            old = b""
        if old is None:
            ctx.entries[self.name] = {
                "file": path, "services": list(services), "volumes": volumes, "created": True,
            }
            ctx.warnings.append(
                f"{path} did not exist and was created with {', '.join(services)} only: no "
                "service of your app runs beside them. If your compose file has another name "
                "or place, set `compose_file` in [tool.paxx-patch] and run again."
            )
            return ctx.compose_fragment.encode()
        doc = TextFile.decode(path, old)
        root = load_yaml(path, doc.text)
        if root is None:
            root = {}
        check_shape(path, root)
        lines = doc.text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        edits: list[TextEdit] = []
        existing = root.get("services") or {}
        reused = same_image_services(existing, services)
        new_services = [s for s in services if s not in existing and s not in reused]
        from_app = [s for s in new_services if s in from_app]
        new_services = [s for s in new_services if s not in from_app]
        for name, service in services.items():
            if name in existing and ctx.previous is None:
                ctx.warnings.append(
                    f"{path}: a service named {name!r} already exists; left as it is."
                )
            elif name in reused and ctx.previous is None:
                differ = _settings_that_differ(service, existing[reused[name]])
                credentials = (
                    f" It sets {', '.join(differ)} otherwise than {name!r} would: give the app "
                    f"{', '.join(ctx.bundle.app_environment) or 'its settings'} to match." if differ else ""
                )
                ctx.warnings.append(
                    f"{path}: service {reused[name]!r} already runs the "
                    f"{image_name(service['image'])} server ({existing[reused[name]]['image']}); "
                    f"{ctx.bundle.name} uses it instead of adding {name!r}, and the app's "
                    f"environment points at it.{credentials}"
                )
        context = posixpath.relpath(ctx.project.root or ".", posixpath.dirname(path) or ".")
        app, why = find_app_service(root, ctx.project.app_service, context, ctx.project.not_the_app)
        if why and ctx.previous is None:
            ctx.warnings.append(f"{path}: {ctx.bundle.name}: {why}")
        healthy = {n: "healthcheck" in (existing.get(n) or {}) for n in existing}
        fragment_text = ctx.compose_fragment
        if reused:
            fragment_text = rename_references(fragment_text, fragment, reused, healthy)
        if new_services:
            blocks = _service_blocks(fragment_text, "services", new_services)
            networks = app_networks(existing.get(app)) if app else []
            if networks:
                blocks = {
                    n: b if "networks" in services[n] else join_networks(b, networks)
                    for n, b in blocks.items()
                }
            edits.append(_into_mapping(path, root, lines, "services", blocks))
        existing_volumes = root.get("volumes") or {}
        needed = volumes_used(services, new_services + from_app)
        new_volumes = [v for v in volumes if v not in existing_volumes and v in needed]
        if new_volumes:
            blocks = _service_blocks(fragment_text, "volumes", new_volumes)
            edits.append(_into_mapping(path, root, lines, "volumes", blocks))
        entry: dict[str, Any] = {"file": path, "services": new_services, "volumes": new_volumes}
        if reused:
            entry["reused"] = reused
        if ctx.bundle.compose_images:
            swaps, swapped, warnings = swap_images(path, root, lines, ctx.bundle.compose_images)
            edits += swaps
            if swapped:
                entry["images"] = swapped
            if ctx.previous is None:
                ctx.warnings += warnings or ([] if swapped else [self._no_image_warning(path, ctx)])
        if app is not None and app not in services:
            edits += self._wire_app(path, root, lines, app, services, reused, healthy, ctx, entry)
        elif ctx.project.app_service and app is None:
            ctx.warnings.append(f"{path}: app_service {ctx.project.app_service!r} is not a "
                             "service there; its environment was not wired.")
        if new_services and ctx.project.compose_overrides and ctx.previous is None:
            ctx.notes.append(
                f"{path}: {', '.join(new_services)} went into this file, the base one; "
                f"{', '.join(ctx.project.compose_overrides)} stays as it is."
            )
        # bottom-up so line numbers stay valid; at one line, a replacement goes first
        # and higher `order` ends up later in the file
        for edit in sorted(edits, key=lambda e: (e.start, e.end > e.start, e.order), reverse=True):
            lines[edit.start : edit.end] = [edit.text]
        text = "".join(lines)
        if from_app:
            text = self._add_from_app(path, text, fragment, from_app, app, ctx, entry)
        if not edits and entry["services"] == new_services:
            return old
        check = load_yaml(path, text, lines=False)
        if not all(s in check["services"] for s in entry["services"]):
            raise AssertionError(f"compose edit of {path} did not take")
        ctx.entries[self.name] = entry
        return doc.encode(text)

    def _add_from_app(
        self, path: str, text: str, fragment: Any, names: list[str], app: str | None,
        ctx: Context, entry: dict[str, Any],
    ) -> str:
        """`text` with the services that run the app's own code added (see
        compose_from_app), once the app service has its new environment."""
        from paxx_patch.mutators.compose.from_app import runs_the_app, service_text

        data = load_yaml(path, text, lines=False) or {}
        existing = data.get("services") or {}
        app_service = existing.get(app) if app is not None else None
        if not runs_the_app(app_service):
            if ctx.previous is None and app_service is None:
                ctx.notes.append(self._outside_compose_note(path, names, ctx))
            elif ctx.previous is None:
                ctx.warnings.append(self._no_app_warning(path, names, ctx))
            return text
        plain = load_yaml(f"{ctx.bundle.directory}/compose.yaml", ctx.compose_fragment, lines=False)
        blocks = {
            name: service_text(name, plain["services"][name], app_service,
                               ctx.bundle.compose_from_app[name], dict(existing)).splitlines(True)
            for name in names
        }
        networks = app_networks(app_service)
        if networks:
            blocks = {n: b if "networks" in plain["services"][n] else join_networks(b, networks)
                      for n, b in blocks.items()}
        root = load_yaml(path, text)
        lines = text.splitlines(keepends=True)
        edit = _into_mapping(path, root, lines, "services", blocks)
        lines[edit.start : edit.end] = [edit.text]
        entry["services"] = [*entry["services"], *names]
        return "".join(lines)

    def _outside_compose_note(self, path: str, names: list[str], ctx: Context) -> str:
        """No service of the compose file runs the app: the app runs outside compose,
        and so does what runs the app's own code."""
        return (
            f"{path} has no service that runs your app (only the services it uses), so "
            f"{', '.join(names)} runs the way your app does, not from compose: the next steps "
            f"say how to start it. To have compose run it, set app_service in "
            f"[tool.paxx-patch] to the service that runs your app, remove {ctx.bundle.name} "
            "and add it again."
        )

    def _no_image_warning(self, path: str, ctx: Context) -> str:
        wanted = ", ".join(f"{name} to {image}" for name, image in ctx.bundle.compose_images.items())
        return (f"{path}: no service runs the image {ctx.bundle.name} switches ({wanted}, "
                "with {major} the major version); switch your own by hand.")

    def _no_app_warning(self, path: str, names: list[str], ctx: Context) -> str:
        keys = sorted({k for n in names for k in ctx.bundle.compose_from_app[n]})
        return (
            f"{path}: {', '.join(names)} not added: it runs your app's own code, from the "
            "app service's build or image, and no app service with `build:` or `image:` "
            f"was found there. Add it by hand with the app's {', '.join(keys)} (see "
            f"`paxx-patch show {ctx.bundle.name}`), or set app_service in [tool.paxx-patch], "
            f"remove {ctx.bundle.name} and add it again."
        )

    def _remove(self, path: str, old: bytes | None, entry: dict[str, Any]) -> bytes | None:
        if old is None or not entry:
            return old
        doc = TextFile.decode(path, old)
        root = load_yaml(path, doc.text)
        if not hasattr(root, "lc"):
            return old
        check_shape(path, root)
        lines = doc.text.splitlines(keepends=True)
        for start, end, text in sorted(set(removal_spans(root, lines, entry)), reverse=True):
            lines[start:end] = [text] if text else []
        text = "".join(lines)
        # only empty `services:` / `volumes:` keys left: the file was made by an add
        if not {line.strip() for line in lines if line.strip()} - {"services:", "volumes:"}:
            return None
        load_yaml(path, text)
        return doc.encode(text)

    def _wire_app(
        self, path: str, root: Any, lines: list[str], app: str, services: dict[str, Any],
        reused: dict[str, str], healthy: dict[str, bool], ctx: Context, entry: dict[str, Any],
    ) -> list[TextEdit]:
        by_env = {s.env_key: ctx.project.env_key(s.name) for s in ctx.bundle.settings}
        environment = {
            by_env.get(k, k): point_urls_at(render_string(
                ctx.bundle, v, ctx.template_context, f"app_environment.{k}"
            ), reused)
            for k, v in ctx.bundle.app_environment.items()
        }
        # wait for services to be healthy, and for one-shot jobs to have finished
        depends = {}
        for name, svc in services.items():
            if not isinstance(svc, dict) or svc.get("profiles") or name in ctx.bundle.compose_from_app:
                continue  # an optional tool (under a profile) is not the app's to wait for
            target = reused.get(name, name)
            if target in healthy:  # a service of the file's: its own healthcheck decides
                depends[target] = "service_healthy" if healthy[target] else "service_started"
            elif "healthcheck" in svc:
                depends[name] = "service_healthy"
            elif svc.get("restart") in ("no", False):
                depends[name] = "service_completed_successfully"
        all_services = root["services"]
        environment = self._app_keeps_its_own(path, all_services.get(app), app, environment, ctx)
        end = _block_end(root, lines, "services")
        service_end = _key_end(all_services, app, end, lines)
        edits, env_added, deps_added, notes, short_form = wire_app_service(
            root, lines, app, service_end, environment, depends
        )
        ctx.notes += [f"{path}: {n}" for n in notes]
        if env_added or deps_added:
            entry.update(app_service=app, app_environment=env_added, app_depends_on=deps_added)
        if short_form:  # so that remove can put it back as it was
            entry["app_depends_on_short_form"] = short_form
        return edits

    def _app_keeps_its_own(
        self, path: str, service: Any, app: str, environment: dict[str, str], ctx: Context,
    ) -> dict[str, str]:
        """The variables to add to the app service: none when it configures the
        component itself already (its own DATABASE_URL, say, whose password would
        otherwise be replaced by the component's DATABASE_PASSWORD)."""
        ours = set(ctx.previous.entries.get(self.name, {}).get("app_environment", [])) if ctx.previous else set()
        present = _env_names(service.get("environment")) if isinstance(service, dict) else set()
        theirs = sorted(k for k in environment if k in present and k not in ours)
        missing = [k for k in environment if k not in present]
        if not theirs or not missing:
            return environment
        ctx.notes.append(
            f"{path}: service {app!r} sets {', '.join(theirs)} itself, so its own configuration of "
            f"{ctx.bundle.name} stays: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
            "not added (set them there if the app should read them)."
        )
        return {}

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        if ctx.removing is not None:
            names = ", ".join(ctx.removing.entries.get(self.name, {}).get("services", []))
            return f"remove {names or ctx.bundle.name} from {changed[0]}"
        entry = ctx.entries.get(self.name, {})
        names = ", ".join(entry.get("services", [])) or ctx.bundle.name
        return f"add {names} to {changed[0]}"


def _service_blocks(fragment: str, section: str, names: list[str]) -> dict[str, list[str]]:
    """The fragment's text for each entry of `section`, at two-space indentation."""
    blocks: dict[str, list[str]] = {}
    current: str | None = None
    in_section = False
    pending: list[str] = []  # comments at key level belong to the key that follows
    for line in fragment.splitlines(keepends=True):
        if line.strip() and not line[0].isspace():
            in_section = line.split(":", 1)[0].strip() == section
            current = None
            continue
        if not in_section:
            continue
        at_key_level = line.startswith("  ") and not line.startswith("   ") and line.strip()
        if at_key_level and line.lstrip().startswith("#"):
            pending.append(line)
            continue
        if at_key_level:
            current = line.strip().split(":", 1)[0]
            blocks[current], pending = pending, []
        if current is not None:
            blocks[current].append(line)
    return {name: blocks[name] for name in names}


def _indent_of(mapping: Any, fallback: int) -> int:
    keys = list(mapping) if hasattr(mapping, "lc") else []
    return int(mapping.lc.key(keys[0])[1]) if keys else fallback


def _reindent(lines: list[str], indent: int) -> str:
    """Scale the fragment's two-space steps to the file's indentation step."""
    out = []
    for line in lines:
        stripped = line.lstrip(" ")
        levels = (len(line) - len(stripped)) // 2
        out.append(" " * (levels * indent) + stripped if stripped.strip() else stripped)
    return "".join(out)


def _into_mapping(
    path: str, root: Any, lines: list[str], key: str, blocks: dict[str, list[str]]
) -> TextEdit:
    """Where and what to insert to add `blocks` under the top-level `key`."""
    if key not in root:
        text = "".join(_reindent(b, 2) for b in blocks.values())
        prefix = "\n" if lines and lines[-1].strip() else ""
        return TextEdit(len(lines), len(lines), f"{prefix}{key}:\n{text}", 4)
    value: Any = root[key]
    key_line = int(root.lc.key(key)[0])
    if value is None or (hasattr(value, "lc") and not value):
        if value is not None and value.fa.flow_style():
            raise PaxxError(
                f"{path}:{key_line + 1}: `{key}` is an empty flow mapping; write it as "
                f"`{key}:` with nothing after it, then run paxx-patch again."
            )
        text = "".join(_reindent(b, 2) for b in blocks.values())
        return TextEdit(key_line + 1, key_line + 1, text)
    if not hasattr(value, "lc") or getattr(value.fa, "flow_style", lambda: False)():
        raise PaxxError(
            f"{path}:{key_line + 1}: `{key}` must be a block mapping for paxx-patch to add "
            "entries to it."
        )
    step = _indent_of(value, 2) or 2
    end = _block_end(root, lines, key)
    # keep the file's habit of a blank line between entries
    spaced = any(not line.strip() for line in lines[key_line + 1 : end])
    text = "".join(("\n" if spaced else "") + _reindent(b, step) for b in blocks.values())
    return TextEdit(end, end, text, 3)


def _block_end(root: Any, lines: list[str], key: str) -> int:
    """Line index just after the last line that belongs to top-level `key`."""
    keys = list(root)
    start = int(root.lc.key(key)[0])
    later = [int(root.lc.key(k)[0]) for k in keys if int(root.lc.key(k)[0]) > start]
    end = min(later) if later else len(lines)
    # blank lines and column-0 comments before the next key belong to that key
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    return end


def _env_map(env: Any) -> dict[str, str]:
    if isinstance(env, dict):
        return {str(k): str(v) for k, v in env.items()}
    if isinstance(env, list):
        return dict(str(item).partition("=")[::2] for item in env)
    return {}


def _settings_that_differ(ours: Any, theirs: Any) -> list[str]:
    """The environment variables the component's service sets (its user, password,
    database) that the service standing in for it sets otherwise, or not at all."""
    mine = _env_map(ours.get("environment") if isinstance(ours, dict) else None)
    other = _env_map(theirs.get("environment") if isinstance(theirs, dict) else None)
    return sorted(k for k, v in mine.items() if other.get(k) != v)
