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
    [components.redis.source]          # only for a component from a git repository
    url = "https://git.example.com/platform/bundles.git"
    rev = "v1.1.0"                     # what was asked for (or the newest tag chosen)
    commit = "0c5b4f2e..."             # what it resolved to: every later render reads it

Paths are relative to the directory that holds the lock (the project directory).
This module must stay light: the pre-commit hook imports it on every commit.
"""

from __future__ import annotations

from paxx_patch.manifest.reader import read_simple_toml
from paxx_patch.manifest.source import SourcePin, source_from_table
from paxx_patch.runtime.errors import PaxxError
from paxx_patch.runtime.paths import path_problem

# `typing` costs the hook ~5 ms to import; type checkers know this name
TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: `typing` and `collections` cost the hook time
    from collections.abc import Callable, Mapping
    from typing import Any, Protocol

    class _Digest(Protocol):
        def hexdigest(self) -> str: ...

LOCK_NAME = "paxx-patch.lock"
LOCK_FORMAT = 1
# git's object formats and the length of their hex ids
OBJECT_FORMATS = {"sha1": 40, "sha256": 64}
_HEX = frozenset("0123456789abcdef")
_HEADER = (
    "# paxx-patch.lock: the components paxx-patch installed here and what each added.\n"
    "# Written by paxx-patch; `paxx-patch verify` checks the owned files against it.\n"
)


def blob_id(content: bytes, object_format: str = "sha1") -> str:
    """The id git gives `content` as a blob in a repository of `object_format`
    (`git rev-parse --show-object-format`), without running git."""
    return _hash(object_format)(b"blob %d\0" % len(content) + content).hexdigest()


def _hash(object_format: str) -> Callable[[bytes], _Digest]:
    # CPython's own SHA modules load in a fraction of the time hashlib takes to
    # load OpenSSL, which the hook would pay on every commit; hashlib when absent
    name = "sha1" if object_format == "sha1" else "sha256"
    for module in ("_sha1",) if name == "sha1" else ("_sha256", "_sha2"):  # _sha2: 3.12+
        try:
            return getattr(__import__(module), name)  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            pass
    import hashlib

    return lambda data: hashlib.new(object_format, data)


def object_format_of(oid: str) -> str:
    """The object format an id belongs to, told by its length."""
    return "sha256" if len(oid) == OBJECT_FORMATS["sha256"] else "sha1"


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
        source: SourcePin | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.variables = variables if variables is not None else {}
        self.files = files if files is not None else {}  # owned path -> pristine blob id
        self.ejected = ejected if ejected is not None else []
        # mutator name -> what it added to shared files (keys chosen by the mutator)
        self.entries = entries if entries is not None else {}
        self.source = source  # None: a bundle from the built-in or a --bundle-path directory

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
        if self.source is not None:
            table["source"] = self.source.to_table()
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


def _restore_hint(where: str) -> str:
    return (
        f"Restore it with `git checkout HEAD -- {where}` (paxx-patch writes it; do not "
        "edit it by hand)."
    )


def decode_lock(raw: bytes | None, where: str = LOCK_NAME) -> str:
    """The lock's text (None: no lock yet); a lock that is not UTF-8 is bad input."""
    try:  # a BOM is dropped by hand: the utf-8-sig codec is one more import
        return raw.removeprefix(b"\xef\xbb\xbf").decode() if raw is not None else ""
    except UnicodeDecodeError as e:
        raise PaxxError(f"{where}: not UTF-8 (byte {e.start}). {_restore_hint(where)}") from e


def parse_lock(text: str, where: str = LOCK_NAME) -> Lock:
    simple = read_simple_toml(text)
    if simple is not None:
        return lock_from_data(simple, text, where)
    import tomllib  # only for a lock in another shape than paxx-patch writes

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PaxxError(f"{where}: cannot parse the lock: {e}. {_restore_hint(where)}") from e
    except (RecursionError, ValueError) as e:  # nesting, or a number too long for int()
        raise PaxxError(
            f"{where}: cannot parse the lock ({type(e).__name__}): it is not one paxx-patch "
            f"wrote. {_restore_hint(where)}"
        ) from None
    return lock_from_data(data, text, where)


def lock_from_data(data: Mapping[str, Any], text: str, where: str) -> Lock:
    """Check what the TOML held and build the Lock; `text` gives errors their line."""
    fmt = data.get("format", LOCK_FORMAT)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise PaxxError(f"{where}:{_line(text, 'format')}: `format` must be a positive "
                        f"integer, got {fmt!r}. {_restore_hint(where)}")
    if fmt > LOCK_FORMAT:
        raise PaxxError(
            f"{where}:{_line(text, 'format')}: written by a newer paxx-patch (lock format "
            f"{fmt}; this paxx-patch reads format {LOCK_FORMAT}). Upgrade paxx-patch "
            "(e.g. `pip install --upgrade paxx-patch`) and run it again; nothing was changed."
        )
    components = data.get("components", {})
    if not isinstance(components, dict):
        raise PaxxError(f"{where}: `components` must be a table. {_restore_hint(where)}")
    lock = Lock()
    for name, table in components.items():
        lock.components[name] = _record(where, text, name, table)
    return lock


def _line(text: str, needle: str) -> int:
    """The (1-based) line where `needle` first appears, for error messages."""
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


_RECORD_KEYS = {"version", "variables", "files", "ejected", "source"}


def _is_component_name(name: str) -> bool:
    return bool(name) and name[0].isascii() and name[0].islower() and all(
        c.isascii() and (c.islower() or c.isdigit() or c == "-") for c in name
    )


def _record(where: str, text: str, name: str, table: Any) -> ComponentRecord:
    def bad(key: str, problem: str = "is malformed", needle: str = "") -> PaxxError:
        line = _line(text, needle or f"components.{_key(name)}")
        return PaxxError(
            f"{where}:{line}: components.{name}{'.' if key else ''}{key} {problem}. "
            f"{_restore_hint(where)}"
        )

    if not _is_component_name(name):
        raise bad("", "is not a component name (lower-case letters, digits and dashes)")
    if not isinstance(table, dict):
        raise bad("")
    version = table.get("version")
    if not isinstance(version, str) or len(version) > 64:
        raise bad("version")
    for key in ("variables", "files"):
        value = table.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise bad(key)
    ejected = table.get("ejected", [])
    if not isinstance(ejected, list) or not all(isinstance(v, str) for v in ejected):
        raise bad("ejected")
    for path, oid in table.get("files", {}).items():
        problem = path_problem(path)
        if problem:
            raise bad("files", f"has the path {path!r}, which {problem}", _key(path))
        if len(oid) not in OBJECT_FORMATS.values() or not _HEX.issuperset(oid):
            raise bad("files", f"has {oid!r} for {path}, which is not a git blob id", oid)
    for path in ejected:
        problem = path_problem(path)
        if problem:
            raise bad("ejected", f"has the path {path!r}, which {problem}", _value(path))
    source = source_from_table(table.get("source"), bad, f"components.{_key(name)}.source")
    entries = {k: v for k, v in table.items() if k not in _RECORD_KEYS}
    for key, value in entries.items():
        if not isinstance(value, dict):
            raise bad(key)
        problem = path_problem(value["file"], may_climb=True) if "file" in value else ""
        if problem:
            raise bad(f"{key}.file", f"is {value['file']!r}, which {problem}", str(value["file"]))
    return ComponentRecord(
        name=name,
        version=version,
        variables=dict(table.get("variables", {})),
        files=dict(table.get("files", {})),
        ejected=list(ejected),
        entries=entries,
        source=source,
    )


def _key(key: str) -> str:
    if key and all(c.isalnum() or c in "-_" for c in key) and key.isascii():
        return key
    return _value(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        import json  # only when writing: the hook reads the lock and never writes it

        # json leaves DEL as it is, and TOML refuses it unescaped
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to the lock")


def _dump_table(table: Mapping[str, Any], path: tuple[str, ...]) -> str:
    """Stable TOML: keys sorted, scalars before sub-tables, one header per table."""
    scalars = sorted(k for k, v in table.items() if not isinstance(v, dict))
    tables = sorted(k for k, v in table.items() if isinstance(v, dict))
    out = []
    if path:
        out.append("\n[" + ".".join(_key(p) for p in path) + "]\n")
    out += [f"{_key(k)} = {_value(table[k])}\n" for k in scalars]
    for k in tables:
        out.append(_dump_table(table[k], (*path, k)))
    return "".join(out)
