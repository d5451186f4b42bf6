"""lock: record the component in paxx-patch.lock, last, so it lands with the rest."""

from __future__ import annotations

from collections.abc import Sequence

from paxx_patch.lock import ComponentRecord, blob_id, parse_lock
from paxx_patch.mutators import Context
from paxx_patch.text import TextFile


class LockMutator:
    name = "lock"

    def paths(self, ctx: Context) -> Sequence[str]:
        return [ctx.project.lock_file]

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        lock = parse_lock(TextFile.decode(path, old).text, path)
        name = ctx.bundle.name
        if ctx.removing is not None:
            lock.components.pop(name, None)
        else:
            root = ctx.project.root
            lock.components[name] = ComponentRecord(
                name=name,
                version=ctx.bundle.version,
                variables=dict(ctx.variables),
                files={
                    _relative(root, p): blob_id(content)
                    for p, content in sorted(ctx.owned_files.items())
                },
                entries={
                    k: {**v, "file": _relative(root, v["file"])} if "file" in v else v
                    for k, v in ctx.entries.items() if v
                },
            )
        if not lock.components and ctx.removing is not None:
            return None
        new = lock.dumps().encode()
        return old if new == old else new

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        if ctx.removing is not None:
            return f"remove {ctx.bundle.name} from {changed[0]}"
        return f"record {ctx.bundle.name} {ctx.bundle.version} in {changed[0]}"


def _relative(root: str, path: str) -> str:
    return path[len(root) + 1 :] if root else path
