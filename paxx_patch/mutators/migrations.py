"""migrations: the imports a component's column types need in Alembic's revision template.

Alembic writes each new migration from `script.py.mako`; a migration that names a
column type of another package (geoalchemy2's `Geography`) fails at its first run
unless the template imports that package. The imports go in just before the
template's `${imports ...}` line (else after its last import), one line each, and
`remove` takes out exactly the lines it recorded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from paxx_patch.edit.text import TextFile
from paxx_patch.mutators import Context

_IMPORT = re.compile(r"^(?:import|from)\s")
_IMPORTS_SLOT = "${imports"


def _imported(text: str, module: str) -> bool:
    top = re.escape(module)
    return re.search(rf"(?m)^(?:import\s+{top}\b|from\s+{top}(?:\.|\s))", text) is not None


class MigrationsMutator:
    name = "migrations"

    def paths(self, ctx: Context) -> Sequence[str]:
        if ctx.removing is not None:
            entry = ctx.removing.entries.get(self.name) or {}
            file = entry.get("file")
            return [file] if isinstance(file, str) and file else []
        if not ctx.bundle.migration_imports:
            return []
        if not ctx.project.migration_template and ctx.project.migration_unresolved and ctx.previous is None:
            lines = ", ".join(f"import {m}" for m in ctx.bundle.migration_imports)
            ctx.warnings.append(
                f"{ctx.bundle.name}: {ctx.project.migration_unresolved}, so none was edited: add "
                f"`{lines}` to the one your migrations are written from, or the migrations that "
                "use the component's column types fail when they run."
            )
        return [ctx.project.migration_template] if ctx.project.migration_template else []

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        if old is None:
            return old  # no template (any more): nothing to import into
        doc = TextFile.decode(path, old)
        if ctx.removing is not None:
            recorded = ctx.removing.entries.get(self.name, {}).get("lines", [])
            lines = doc.text.splitlines(keepends=True)
            for wanted in (w for w in recorded if isinstance(w, str)):
                at = next((i for i, line in enumerate(lines) if line.rstrip("\r\n") == wanted), None)
                if at is not None:
                    del lines[at]
            return doc.encode("".join(lines))
        added = [f"import {m}" for m in ctx.bundle.migration_imports if not _imported(doc.text, m)]
        if not added:
            return old
        lines = doc.text.splitlines(keepends=True)
        slot = next((i for i, line in enumerate(lines) if line.lstrip().startswith(_IMPORTS_SLOT)), None)
        if slot is None:
            slot = max((i + 1 for i, line in enumerate(lines) if _IMPORT.match(line)), default=None)
        if slot is None:
            ctx.warnings.append(
                f"{ctx.bundle.name}: {path} has no imports and no ${{imports}} line to place "
                f"{', '.join(added)} by; add {'them' if len(added) > 1 else 'it'} to it by hand, "
                "or migrations that use the component's column types fail when they run."
            )
            return old
        if slot and not lines[slot - 1].endswith("\n"):
            lines[slot - 1] += "\n"
        lines[slot:slot] = [f"{line}\n" for line in added]
        ctx.entries[self.name] = {"file": path, "lines": added}
        return doc.encode("".join(lines))

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        if ctx.removing is not None:
            lines = ctx.removing.entries.get(self.name, {}).get("lines", [])
            return f"remove {', '.join(map(str, lines))} from {changed[0]}"
        lines = ctx.entries.get(self.name, {}).get("lines", [])
        return f"{', '.join(lines)} in {changed[0]}"
