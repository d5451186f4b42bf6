"""The app service's side of the compose edit: its environment and depends_on.

Like the rest of the compose mutator, it finds places with ruamel.yaml's line
information and inserts text, so the service's existing lines stay as written.
The one exception is a short-form `depends_on` list, which has to become the
long form to carry `condition:`; the listed services keep `service_started`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paxx_patch.edit.yaml_scalar import scalar


@dataclass
class TextEdit:
    start: int  # first line replaced (or the insert position)
    end: int  # line after the last replaced; == start for a pure insertion
    text: str
    order: int = 0  # among edits at one line, higher ones end up later in the file


def quote(value: str) -> str:
    return scalar(value)


def own_keys(mapping: Any) -> list[Any]:
    """Keys written in this mapping (not those merged in with `<<:`)."""
    data = mapping.lc.data or {}
    return [k for k in mapping if k in data]


def _key_end(mapping: Any, key: str, limit: int, lines: list[str]) -> int:
    """Line after the last line of `key`'s value inside `mapping` (bounded by `limit`)."""
    start = int(mapping.lc.key(key)[0])
    lines_of = [int(mapping.lc.key(k)[0]) for k in own_keys(mapping)]
    later = [line for line in lines_of if line > start]
    end = min(later) if later else limit
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return end


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def wire_app_service(
    root: Any,
    lines: list[str],
    service: str,
    service_end: int,
    environment: dict[str, str],
    depends_on: dict[str, str],
) -> tuple[list[TextEdit], list[str], list[str], list[str], str]:
    """Edits that add `environment` and `depends_on` to `service`.

    Returns the edits, the env keys added, the services depended on, notes, and the
    text of a short-form `depends_on` that was rewritten in the long form ("": none).
    """
    svc = root["services"][service]
    if not hasattr(svc, "lc"):
        return [], [], [], [f"service {service!r} is not a mapping; wire it by hand."], ""
    keys = own_keys(svc)
    key_col = int(svc.lc.key(keys[0])[1]) if keys else 4
    step = key_col - int(root["services"].lc.key(service)[1]) or 2
    edits: list[TextEdit] = []
    notes: list[str] = []
    env = svc.get("environment")
    present = _env_names(env)
    new_env = {k: v for k, v in environment.items() if k not in present}
    added_env: list[str] = []
    if new_env and env is not None and "environment" not in keys:
        # an own `environment:` would replace the merged one instead of adding to it
        notes.append(f"the environment of {service!r} comes from a `<<:` merge; add "
                     + ", ".join(f"{k}={v}" for k, v in new_env.items()) + " to it by hand.")
    elif new_env:
        if env is None:
            body = "".join(f"{' ' * (key_col + step)}{k}: {quote(v)}\n" for k, v in new_env.items())
            edits.append(TextEdit(service_end, service_end, f"{' ' * key_col}environment:\n{body}", 1))
            added_env = list(new_env)
        elif getattr(env.fa, "flow_style", lambda: False)() if hasattr(env, "fa") else True:
            notes.append(f"the environment of {service!r} is in flow style; add "
                         + ", ".join(f"{k}={v}" for k, v in new_env.items()) + " to it by hand.")
        else:
            end = _key_end(svc, "environment", service_end, lines)
            first = int(svc.lc.key("environment")[0]) + 1
            pad = _indent(lines[first]) if first < end else key_col + step
            if isinstance(env, dict):
                body = "".join(f"{' ' * pad}{k}: {quote(v)}\n" for k, v in new_env.items())
            else:
                body = "".join(f"{' ' * pad}- {quote(f'{k}={v}')}\n" for k, v in new_env.items())
            edits.append(TextEdit(end, end, body))
            added_env = list(new_env)
    deps = svc.get("depends_on")
    new_deps = {k: v for k, v in depends_on.items() if not deps or k not in deps}
    short_form = ""
    if new_deps and deps is not None and "depends_on" not in keys:
        notes.append(f"the depends_on of {service!r} comes from a `<<:` merge; add "
                     + ", ".join(new_deps) + " to it by hand.")
        new_deps = {}
    if new_deps:
        long_form = "".join(
            f"{' ' * (key_col + step)}{name}:\n{' ' * (key_col + 2 * step)}condition: {cond}\n"
            for name, cond in new_deps.items()
        )
        if deps is None:
            edits.append(TextEdit(service_end, service_end, f"{' ' * key_col}depends_on:\n{long_form}", 2))
        elif isinstance(deps, dict) and not getattr(deps, "fa").flow_style():  # noqa: B009 — ruamel CommentedMap
            end = _key_end(svc, "depends_on", service_end, lines)
            edits.append(TextEdit(end, end, long_form))
        else:
            # short form (a list): rewrite as the long form, same services kept
            start = int(svc.lc.key("depends_on")[0])
            end = _key_end(svc, "depends_on", service_end, lines)
            short_form = "".join(lines[start:end])
            kept = "".join(
                f"{' ' * (key_col + step)}{name}:\n{' ' * (key_col + 2 * step)}condition: service_started\n"
                for name in deps
            )
            edits.append(TextEdit(start, end, f"{' ' * key_col}depends_on:\n{kept}{long_form}"))
            notes.append(f"depends_on of {service!r} was rewritten in the long form to carry conditions.")
    return edits, added_env, list(new_deps), notes, short_form


def _env_names(env: Any) -> set[str]:
    if isinstance(env, dict):
        return {str(k) for k in env}
    if isinstance(env, list):
        return {str(item).split("=", 1)[0] for item in env}
    return set()
