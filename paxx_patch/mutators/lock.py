"""lock: record the component in paxx-patch.lock, last, so it lands with the rest."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from paxx_patch.edit.text import TextFile
from paxx_patch.manifest import ComponentRecord, Lock, blob_id, parse_lock
from paxx_patch.mutators import Context


class LockMutator:
    name = "lock"

    def paths(self, ctx: Context) -> Sequence[str]:
        return [ctx.project.lock_file]

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        lock = parse_lock(TextFile.decode(path, old).text, path)
        name = ctx.bundle.name
        if ctx.removing is not None:
            lock.components.pop(name, None)
            _hand_over(lock, ctx.removing, ctx.shared)
            _hand_over_requirements(lock, ctx.removing, ctx.shared_requirements)
            _same_blob(lock, {_relative(ctx.project.root, p): blob_id(c, ctx.object_format)
                              for p, c in ctx.owned_files.items()})
        else:
            root = ctx.project.root
            record = ComponentRecord(
                name=name,
                version=ctx.bundle.version,
                variables=dict(ctx.variables),
                files={
                    _relative(root, p): blob_id(content, ctx.object_format)
                    for p, content in sorted(ctx.owned_files.items())
                },
                entries={
                    k: {**v, "file": _relative(root, v["file"])} if "file" in v else v
                    for k, v in ctx.entries.items() if v
                },
                source=ctx.bundle.source,
            )
            if ctx.previous is not None:
                record.ejected = list(ctx.previous.ejected)
                record.files.update({p: ctx.previous.files[p] for p in record.ejected
                                     if p in ctx.previous.files})
                record.entries = merge_entries(ctx.previous.entries, record.entries)
            _share_short_form(lock, record)
            _same_blob(lock, {p: record.files[p] for p in record.files if p not in record.ejected})
            lock.components[name] = record
        if not lock.components and ctx.removing is not None:
            return None
        new = lock.dumps().encode()
        return old if new == old else new

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        if ctx.removing is not None:
            return f"remove {ctx.bundle.name} from {changed[0]}"
        return f"record {ctx.bundle.name} {ctx.bundle.version} in {changed[0]}"


def _relative(root: str, path: str) -> str:
    """`path` relative to the project directory (`../compose.yaml` for one above it)."""
    return posixpath.relpath(path, root) if root else path


def _hand_over(lock: Lock, leaving: ComponentRecord, shared: frozenset[str]) -> None:
    """A shared file the leaving component recorded goes on being checked as another's:
    the first staying component with files beside it records it (and removes it last)."""
    for path in sorted(shared & set(leaving.files)):
        if path in leaving.ejected or any(path in r.files for r in lock.components.values()):
            continue
        directory = posixpath.dirname(path) + "/"
        heir = next((r for _, r in sorted(lock.components.items())
                     if any(p.startswith(directory) for p in r.files)), None)
        if heir is not None:
            heir.files[path] = leaving.files[path]


def _same_blob(lock: Lock, files: dict[str, str]) -> None:
    """A file several components own (the components' settings module) is recorded with
    its one current content under each of them."""
    for record in lock.components.values():
        for path, oid in files.items():
            if path in record.files and path not in record.ejected:
                record.files[path] = oid


def _hand_over_requirements(lock: Lock, leaving: ComponentRecord, shared: frozenset[str]) -> None:
    """A requirement the leaving component added and a staying one needs (pydantic-settings
    for the components' settings module) is recorded by that one, which takes it out last."""
    if not shared:
        return
    own = leaving.entries.get("settings", {}).get("file")
    heir = next((r for _, r in sorted(lock.components.items())
                 if r.entries.get("settings", {}).get("own") and
                 r.entries.get("settings", {}).get("file") == own), None)
    if heir is None:
        return
    entry = heir.entries.setdefault("dependencies", {
        "file": leaving.entries["dependencies"]["file"], "added": []})
    entry["added"] = [*entry.get("added", []), *sorted(r for r in shared if r not in entry.get("added", []))]


def _share_short_form(lock: Lock, record: ComponentRecord) -> None:
    """A component that adds to an app's `depends_on` which an earlier one rewrote from
    the short form keeps that form too: whichever of them is removed last restores it."""
    mine = record.entries.get("compose", {})
    if not mine.get("app_depends_on") or "app_depends_on_short_form" in mine:
        return
    for other in lock.components.values():
        theirs = other.entries.get("compose", {})
        if theirs.get("app_service") == mine.get("app_service") and (
            theirs.get("file") == mine.get("file") and "app_depends_on_short_form" in theirs
        ):
            mine["app_depends_on_short_form"] = theirs["app_depends_on_short_form"]
            return


def merge_entries(
    old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """What the installed version added plus what the update added."""
    merged = {k: dict(v) for k, v in old.items()}
    for mutator, entry in new.items():
        target = merged.setdefault(mutator, {})
        replaced = entry.get("replaced", {})
        for key, value in entry.items():
            if key == "replaced":
                continue
            if isinstance(value, list) and isinstance(target.get(key), list):
                target[key] = list(dict.fromkeys([*target[key], *value]))
            else:
                target[key] = value
        if replaced:  # a requirement the update re-pinned is recorded as it now stands
            target["added"] = [replaced.get(r, r) for r in target.get("added", [])]
    return merged
