"""paxx-patch add: install components as one commit per mutator."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path

from paxx_patch.bundle import Bundle, load_bundle
from paxx_patch.commands.common import Run, Sourcing, open_plan, open_project
from paxx_patch.commands.update import (
    begin_three_way,
    finish_three_way,
    observers,
    render_again,
)
from paxx_patch.plan.engine import (
    exclusive,
    make_context,
    next_steps,
    plan_component,
    read_lock,
    resolve_variables,
)
from paxx_patch.runtime.errors import PaxxError
from paxx_patch.runtime.faults import checkpoint


def with_requirements(asked: Sequence[Bundle], installed: AbstractSet[str]) -> list[Bundle]:
    """The bundles to add: each one asked for, after the bundles it requires that are
    not installed yet (those come first, so their commits do too)."""
    ordered: dict[str, Bundle] = {}
    for bundle in asked:
        for needed in bundle.with_requirements():
            if needed.name not in ordered and (needed is bundle or needed.name not in installed):
                ordered[needed.name] = next((b for b in asked if b.name == needed.name), needed)
    return list(ordered.values())


def add(names: Sequence[str], run: Run, sets: dict[str, str] | None = None,
        sourcing: Sourcing | None = None) -> int:
    """`sourcing.source` (`--from`): read the bundles out of that git repository instead."""
    bundles: list[Bundle] = []
    source, rev = (sourcing.source, sourcing.rev) if sourcing else (None, None)
    if rev is not None and source is None:
        raise PaxxError(f"--rev {rev}: a revision belongs to a source; name it with --from SOURCE.")
    if source is None:
        bundles = [load_bundle(name, run.bundle_path) for name in dict.fromkeys(names)]
    git, base, root = open_project(run.cwd, run.project_dir)
    with exclusive(git):
        plan, project = open_plan(git, base, root)
        if source is not None:
            from paxx_patch.bundle import sources

            spec = sources.parse_source(
                source, rev, project_dir=git.top / project.root, cwd=(run.cwd or Path.cwd()).resolve(),
                named=sources.named_sources(plan.snapshot, project.root),
            )
            pin = sources.resolve(spec, run.offline)
            bundles = [sources.bundle_at(spec, pin, name) for name in dict.fromkeys(names)]
        lock = read_lock(plan.snapshot, project)
        asked = bundles
        bundles = with_requirements(asked, set(lock.components))
        for bundle in bundles:
            if bundle.name not in names:
                needed = ", ".join(b.name for b in asked if bundle.name in b.requires)
                plan.notes.append(f"{bundle.name} is added first: {needed} requires it.")
        variables = resolve_variables(bundles, sets or {}, {})
        adding = [b for b in bundles if b.name not in lock.components]
        after = set(lock.components) | {b.name for b in adding}
        refreshed = observers(plan, lock, run, {b.name for b in adding}, after, git.top / project.root)
        restore, head = begin_three_way(plan, project, [r for _, r in refreshed])
        for bundle in bundles:
            if bundle.name in lock.components:
                installed = lock.components[bundle.name].version
                move = (f"Use `paxx-patch update {bundle.name}` to move it to {bundle.version}."
                        if installed != bundle.version else "It is up to date.")
                plan.notes.append(f"{bundle.name} {installed} is already installed; nothing to add. {move}")
                continue
            ctx = make_context(bundle, project, variables[bundle.name],
                               snapshot=plan.snapshot, refresh_lock=run.refresh_lock,
                               object_format=git.object_format(), installed=after)
            plan_component(plan, ctx)
            plan.next_steps.append(f"{bundle.name}: {next_steps(ctx)}")
        # the components that observe the new ones follow them
        pristine = render_again(plan, project, refreshed, after, run.refresh_lock,
                                git.object_format()) if plan.commits else {}
        checkpoint("planned")
        finish_three_way(git, base, plan, run, "add", names, restore, head, pristine,
                         default_dir=f"paxx-patches/{'+'.join(names)}")
    return 0
