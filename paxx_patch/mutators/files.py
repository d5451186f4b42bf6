"""files: the component's rendered templates, owned by the component."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence

from paxx_patch.manifest import ComponentRecord
from paxx_patch.mutators import Context
from paxx_patch.mutators.own_settings import own_settings_file
from paxx_patch.mutators.wiring.hooks import hooks_path
from paxx_patch.runtime.errors import PaxxError

# the services package's `__init__.py` when paxx-patch makes the package: a docstring,
# so that projects whose linters ask every package for one find nothing to report
PACKAGE_INIT = b'"""Infrastructure services added by paxx-patch."""\n'


def shared_files(leaving: ComponentRecord, staying: Iterable[ComponentRecord]) -> frozenset[str]:
    """The files of `leaving` that a staying component records as well (the wiring's
    lifespan hooks module), and its `__init__.py` files that make a package of a
    directory where a staying component has files too."""
    theirs = {p for record in staying for p in record.files}
    return frozenset(
        p for p in leaving.files if p in theirs or posixpath.basename(p) == "__init__.py" and any(
            q.startswith(posixpath.dirname(p) + "/") for q in theirs
        )
    )


class FilesMutator:
    name = "files"

    def _init(self, ctx: Context) -> str:
        return f"{ctx.project.services_dir}/__init__.py"

    def paths(self, ctx: Context) -> Sequence[str]:
        # the components' settings module is the settings mutator's to write and delete
        if ctx.removing is not None:
            own = own_settings_file(ctx.removing)
            return [ctx.project.path(p) for p in sorted(ctx.removing.files) if p != own]
        own = own_settings_file(ctx.previous)
        previous = [ctx.project.path(p) for p in ctx.previous.files if p != own] if ctx.previous else []
        return list(dict.fromkeys([*ctx.rendered, self._init(ctx), *previous]))

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        relative = path[len(ctx.project.root) + 1 :] if ctx.project.root else path
        installed = ctx.removing or ctx.previous
        if installed is not None and relative in installed.ejected:
            if old is not None:  # `eject` made it the user's: theirs to keep or delete
                verb = "removing" if ctx.removing is not None else "updating"
                ctx.notes.append(f"{path} was ejected (it is yours now), so {verb} "
                                 f"{ctx.bundle.name} left it as it is.")
            return old
        if ctx.removing is not None:
            return old if relative in ctx.shared else None
        previous = ctx.previous.files if ctx.previous else {}
        if path == self._init(ctx) and path not in ctx.rendered:
            if old is None or relative in previous:
                ctx.owned_files[path] = PACKAGE_INIT
                return PACKAGE_INIT
            return old
        if path not in ctx.rendered:
            if path == hooks_path(ctx.project):
                return old  # the wiring's, which keeps or writes it
            return None  # owned by the installed version, gone from the new one
        new = ctx.rendered[path]
        if old is not None and old != new and relative not in previous:
            raise PaxxError(
                f"{path} already exists and was not written by paxx-patch; "
                f"{ctx.bundle.name} would replace it. Move or rename your file, or set "
                "[tool.paxx-patch] services_dir to another directory. Nothing was changed."
            )
        ctx.owned_files[path] = new
        return new

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        verb = "remove" if ctx.removing is not None else "update" if ctx.previous else "add"
        return f"{verb} {', '.join(sorted(changed))}"
