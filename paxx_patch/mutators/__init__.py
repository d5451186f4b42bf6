"""Mutators: pure transformations of file bytes, one commit each, in one registry.

A mutator names the paths it reads or writes for a component and maps each
path's old content (None: the file does not exist) to its new content (None:
delete it). It never touches git or the disk; the engine in `paxx_patch.plan.engine`
reads the old bytes from the base commit and turns the results into commits.
What a mutator adds to shared files it records in `ctx.entries[<its name>]`, so
the lock can tell `remove` and `verify` exactly what belongs to the component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from paxx_patch.bundle import Bundle
    from paxx_patch.discover.project import Project
    from paxx_patch.manifest import ComponentRecord


@dataclass
class Context:
    """What a mutator may know: the bundle, the project, the rendering context."""

    bundle: Bundle
    project: Project
    variables: dict[str, str]
    template_context: dict[str, Any]
    rendered: dict[str, bytes] = field(default_factory=dict)  # repo path -> template output
    compose_fragment: str = ""  # the bundle's rendered compose.yaml
    # `remove` runs the mutators backwards from the lock's record of the component
    removing: ComponentRecord | None = None
    # `update` renders the new version over the lock's record of the installed one
    previous: ComponentRecord | None = None
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    owned_files: dict[str, bytes] = field(default_factory=dict)  # repo path -> pristine
    notes: list[str] = field(default_factory=list)  # told to the user after the run
    warnings: list[str] = field(default_factory=list)  # what the user must act on
    refresh_lock: bool = True  # run the project's locker when its dependencies change
    # files of the component being removed that components staying need too (the
    # services package's __init__.py while they have modules beside it): left in place
    shared: frozenset[str] = frozenset()
    # requirements of the component being removed that components staying need too
    # (pydantic-settings while they read their settings from the components' own module)
    shared_requirements: frozenset[str] = frozenset()
    object_format: str = "sha1"  # the repository's: the lock's blob ids are in it
    # URL path -> `file:line` where a module other than the app's declares a route on
    # it already (`@router.get("/metrics")`): the wiring serves ours on a path of its own
    routes_elsewhere: dict[str, str] = field(default_factory=dict)


class Mutator(Protocol):
    name: str

    def paths(self, ctx: Context) -> Sequence[str]:
        """Repository paths (posix) this mutator reads or writes."""

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        """New content of `path` (None: absent); return `old` to change nothing."""

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        """Commit subject after `paxx(<component>): `, e.g. `add services/cache.py`."""


def registry() -> list[Mutator]:
    """All mutators in commit order. Adding a mutator = one module + one line here."""
    from paxx_patch.mutators import (
        compose,
        dependencies,
        env,
        files,
        lock,
        migrations,
        settings,
        wiring,
    )

    return [
        files.FilesMutator(),
        compose.ComposeMutator(),
        dependencies.DependenciesMutator(),
        settings.SettingsMutator(),
        env.EnvMutator(),
        wiring.WiringMutator(),
        migrations.MigrationsMutator(),
        lock.LockMutator(),
    ]
