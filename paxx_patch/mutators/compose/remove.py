"""Take out of the compose file exactly what the lock says a component added."""

from __future__ import annotations

import textwrap
from typing import Any

from paxx_patch.mutators.compose.app_service import own_keys
from paxx_patch.mutators.compose.images import restore_spans


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _entry_span(mapping: Any, key: Any, lines: list[str], limit: int) -> tuple[int, int]:
    """Lines [start, end) of `key` and its value in `mapping`, trailing blanks excluded."""
    start = int(mapping.lc.key(key)[0])
    later = [int(mapping.lc.key(k)[0]) for k in own_keys(mapping) if int(mapping.lc.key(k)[0]) > start]
    end = min(later) if later else limit
    while end > start + 1 and (not lines[end - 1].strip() or (
        lines[end - 1].lstrip().startswith("#") and _indent(lines[end - 1]) <= _indent(lines[start])
    )):
        end -= 1
    return start, end


def _top_end(root: Any, key: str, lines: list[str]) -> int:
    start = int(root.lc.key(key)[0])
    later = [int(root.lc.key(k)[0]) for k in own_keys(root) if int(root.lc.key(k)[0]) > start]
    return min(later) if later else len(lines)


def removal_spans(root: Any, lines: list[str], entry: dict[str, Any]) -> list[tuple[int, int, str]]:
    """Line ranges to replace (mostly by nothing), each widened by the blank line
    paxx-patch put before it."""
    spans: list[tuple[int, int, str]] = []

    def drop(mapping: Any, names: list[str], limit: int, whole_key: str | None) -> None:
        present = [n for n in names if n in own_keys(mapping)]
        if whole_key is not None and len(present) == len(own_keys(mapping)) and present:
            start = int(root.lc.key(whole_key)[0])
            if start > 0 and not lines[start - 1].strip():
                start -= 1
            spans.append((start, _span_end(lines, start, limit), ""))
            return
        for name in present:
            start, end = _entry_span(mapping, name, lines, limit)
            # comments right above an entry paxx-patch added came with it
            while start > 0 and lines[start - 1].lstrip().startswith("#") and (
                _indent(lines[start - 1]) == _indent(lines[start])
            ):
                start -= 1
            if start > 0 and not lines[start - 1].strip() and _blank_separated(mapping, lines):
                start -= 1
            spans.append((start, end, ""))

    services = root.get("services") or {}
    if services:
        end = _top_end(root, "services", lines)
        drop(services, entry.get("services", []), end, None)
        app = entry.get("app_service")
        if app in own_keys(services):
            svc = services[app]
            app_end = _entry_span(services, app, lines, end)[1]
            for key, names in (("environment", entry.get("app_environment", [])),
                               ("depends_on", entry.get("app_depends_on", []))):
                value = svc.get(key) if key in own_keys(svc) else None
                if value is None or not names:
                    continue
                key_end = _entry_span(svc, key, lines, app_end)[1]
                short_form = entry.get("app_depends_on_short_form", "") if key == "depends_on" else ""
                if isinstance(value, dict):
                    present = [n for n in names if n in value]
                    if len(present) == len(value):
                        spans.append((*_entry_span(svc, key, lines, app_end), ""))
                    elif short_form and _short_names(short_form) == [n for n in value if n not in present]:
                        # what is left is what the user wrote: in the form they wrote it
                        spans.append((*_entry_span(svc, key, lines, app_end), short_form))
                    else:
                        for n in present:
                            spans.append((*_entry_span(value, n, lines, key_end), ""))
                elif isinstance(value, list):
                    items = [i for i, item in enumerate(value) if str(item).split("=", 1)[0] in names]
                    if len(items) == len(value):
                        spans.append((*_entry_span(svc, key, lines, app_end), ""))
                    else:
                        for i in items:
                            line = int(getattr(value, "lc").item(i)[0])  # noqa: B009 — ruamel CommentedSeq
                            spans.append((line, line + 1, ""))
    if isinstance(entry.get("images"), dict):
        spans += restore_spans(root, lines, entry["images"])
    volumes = root.get("volumes") or {}
    if volumes and entry.get("volumes"):
        drop(volumes, entry["volumes"], _top_end(root, "volumes", lines), "volumes")
    return spans


def _short_names(text: str) -> list[str]:
    """The services of a short-form `depends_on` block, as the lock recorded it."""
    from ruamel.yaml import YAML

    value = YAML(typ="safe", pure=True).load(textwrap.dedent(text))
    deps = value.get("depends_on") if isinstance(value, dict) else None
    return [str(d) for d in deps] if isinstance(deps, list) else []


def _span_end(lines: list[str], start: int, limit: int) -> int:
    end = limit
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return end


def _blank_separated(mapping: Any, lines: list[str]) -> bool:
    keys = own_keys(mapping)
    if len(keys) < 2:
        return False
    first = int(mapping.lc.key(keys[0])[0])
    last = int(mapping.lc.key(keys[-1])[0])
    return any(not line.strip() for line in lines[first:last])
