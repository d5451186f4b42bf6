"""files: the component's rendered templates, owned by the component."""

from __future__ import annotations

from collections.abc import Sequence

from paxx_patch.errors import PaxxError
from paxx_patch.mutators import Context


class FilesMutator:
    name = "files"

    def _init(self, ctx: Context) -> str:
        return f"{ctx.project.services_dir}/__init__.py"

    def paths(self, ctx: Context) -> Sequence[str]:
        if ctx.removing is not None:
            return sorted(ctx.removing.files)
        return [*ctx.rendered, self._init(ctx)]

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        if ctx.removing is not None:
            return None
        if path == self._init(ctx):
            if old is None:
                ctx.owned_files[path] = b""
                return b""
            return old
        new = ctx.rendered[path]
        if old is not None and old != new:
            raise PaxxError(
                f"{path} already exists and was not written by paxx-patch; "
                f"{ctx.bundle.name} would replace it. Move or rename your file, or set "
                "[tool.paxx-patch] services_dir to another directory. Nothing was changed."
            )
        ctx.owned_files[path] = new
        return new

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        verb = "remove" if ctx.removing is not None else "add"
        return f"{verb} {', '.join(sorted(changed))}"
