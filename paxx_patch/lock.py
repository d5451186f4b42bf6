"""paxx-patch.lock: what is installed, read with the standard library only.

The lock is the manifest `verify`, `status`, `update` and `remove` work from:

    [components.redis]
    version = "1.0.0"
    ejected = []                       # owned files the user took over
    [components.redis.variables]       # template variables used
    [components.redis.files]           # owned file -> git blob id of its pristine content
    "services/cache.py" = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"
    [components.redis.compose]         # one table per mutator: what it added to shared files
    file = "docker-compose.yml"
    services = ["redis"]

Paths are relative to the directory that holds the lock (the project directory).
This module must stay light: the pre-commit hook imports it on every commit.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from typing import Any

from paxx_patch.errors import PaxxError

LOCK_NAME = "paxx-patch.lock"
LOCK_FORMAT = 1
_HEADER = (
    "# paxx-patch.lock: the components paxx-patch installed here and what each added.\n"
    "# Written by paxx-patch; `paxx-patch verify` checks the owned files against it.\n"
)


def blob_id(content: bytes) -> str:
    """The id git gives `content` as a blob, without running git."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class ComponentRecord:
    """One installed component. (A plain class: `dataclasses` costs the hook ~5 ms.)"""

    def __init__(
        self,
        name: str,
        version: str,
        variables: dict[str, str] | None = None,
        files: dict[str, str] | None = None,
        ejected: list[str] | None = None,
        entries: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.variables = variables if variables is not None else {}
        self.files = files if files is not None else {}  # owned path -> pristine blob id
        self.ejected = ejected if ejected is not None else []
        # mutator name -> what it added to shared files (keys chosen by the mutator)
        self.entries = entries if entries is not None else {}

    def verified_files(self) -> dict[str, str]:
        return {p: b for p, b in self.files.items() if p not in self.ejected}

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {
            "version": self.version,
            "ejected": sorted(self.ejected),
            "variables": dict(self.variables),
            "files": dict(self.files),
        }
        for mutator, entry in self.entries.items():
            if entry:
                table[mutator] = entry
        return table


class Lock:
    def __init__(self, components: dict[str, ComponentRecord] | None = None) -> None:
        self.components = components if components is not None else {}

    def dumps(self) -> str:
        root = {
            "format": LOCK_FORMAT,
            "components": {n: self.components[n].to_table() for n in sorted(self.components)},
        }
        return _HEADER + _dump_table(root, ())


def parse_lock(text: str, where: str = LOCK_NAME) -> Lock:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PaxxError(
            f"{where}: cannot parse the lock: {e}. Restore it with "
            f"`git checkout -- {where}` (paxx-patch writes it; do not edit it by hand)."
        ) from e
    components = data.get("components", {})
    if not isinstance(components, dict):
        raise PaxxError(f"{where}: `components` must be a table. Restore the lock from git.")
    lock = Lock()
    for name, table in components.items():
        lock.components[name] = _record(where, name, table)
    return lock


_RECORD_KEYS = {"version", "variables", "files", "ejected"}


def _record(where: str, name: str, table: Any) -> ComponentRecord:
    def bad(key: str) -> PaxxError:
        return PaxxError(
            f"{where}: components.{name}.{key} is malformed. Restore the lock from git."
        )

    if not isinstance(table, dict):
        raise bad("")
    version = table.get("version")
    if not isinstance(version, str):
        raise bad("version")
    for key in ("variables", "files"):
        value = table.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise bad(key)
    ejected = table.get("ejected", [])
    if not isinstance(ejected, list) or not all(isinstance(v, str) for v in ejected):
        raise bad("ejected")
    entries = {k: v for k, v in table.items() if k not in _RECORD_KEYS}
    for key, value in entries.items():
        if not isinstance(value, dict):
            raise bad(key)
    return ComponentRecord(
        name=name,
        version=version,
        variables=dict(table.get("variables", {})),
        files=dict(table.get("files", {})),
        ejected=list(ejected),
        entries=entries,
    )


def _key(key: str) -> str:
    if key and all(c.isalnum() or c in "-_" for c in key) and key.isascii():
        return key
    return json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to the lock")


def _dump_table(table: Mapping[str, Any], path: tuple[str, ...]) -> str:
    """Stable TOML: keys sorted, scalars before sub-tables, one header per table."""
    scalars = sorted(k for k, v in table.items() if not isinstance(v, Mapping))
    tables = sorted(k for k, v in table.items() if isinstance(v, Mapping))
    out = []
    if path:
        out.append("\n[" + ".".join(_key(p) for p in path) + "]\n")
    out += [f"{_key(k)} = {_value(table[k])}\n" for k in scalars]
    for k in tables:
        out.append(_dump_table(table[k], (*path, k)))
    return "".join(out)
