"""paxx-patch update / remove: three-way changes against the pristine install.

Commit A is HEAD with the component's owned files put back to the pristine
blobs the lock records; the new render (or the removal) is built on A as one
commit per mutator (B). B is then cherry-picked onto HEAD, so the user's edits
meet the change in an ordinary three-way merge, and conflicts are ordinary git
conflicts. When the owned files are untouched, A is HEAD and B lands like `add`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from paxx_patch.bundle import Bundle, available, load_bundle, version
from paxx_patch.commands.common import (
    Run,
    Sourcing,
    deliver_and_report,
    open_plan,
    open_project,
    report,
)
from paxx_patch.discover.project import Project
from paxx_patch.git.build import REF_PREFIX
from paxx_patch.git.repo import Git
from paxx_patch.git.snapshot import Snapshot
from paxx_patch.manifest import ComponentRecord, Lock, blob_id
from paxx_patch.manifest.source import SourcePin
from paxx_patch.mutators.files import shared_files
from paxx_patch.mutators.own_settings import shared_requirements
from paxx_patch.plan.engine import (
    Plan,
    exclusive,
    make_context,
    plan_component,
    read_lock,
    resolve_variables,
)
from paxx_patch.plan.threeway import Conflict, carry_over
from paxx_patch.runtime.errors import PaxxError
from paxx_patch.runtime.faults import checkpoint


def update(names: Sequence[str], run: Run, sets: dict[str, str] | None = None,
           allow_downgrade: bool = False, sourcing: Sourcing | None = None) -> int:
    """`sourcing.source` (`--from`) switches the components to that git repository;
    `sourcing.rev` picks a revision of their source instead of its newest release tag."""
    return _three_way("update", names, run, sets or {}, allow_downgrade, sourcing or Sourcing())


def remove(names: Sequence[str], run: Run) -> int:
    return _three_way("remove", names, run, {}, False, Sourcing())


def _require_installed(name: str, bundle_path: Sequence[str], lock: Lock, verb: str) -> None:
    if name not in lock.components:
        installed = ", ".join(sorted(lock.components)) or "none"
        known = name in available(bundle_path)
        hint = (f"Use `paxx-patch add {name}` to install it." if known and verb == "update"
                else "" if known else "See `paxx-patch list` for the components there are.")
        raise PaxxError(
            f"{name} is not installed here (installed: {installed}); nothing to {verb}. {hint}".strip()
        )


def _target_bundles(
    names: list[str], verb: str, lock: Lock, run: Run, sourcing: Sourcing,
    files: Snapshot, root: str, project_dir: Path,
) -> list[Bundle]:
    """The bundle each component moves to (update) or is removed with (remove): its
    source's at the revision asked for (or the newest tag, or, for remove, the pinned
    commit), a `--from` source's, or the built-in one."""
    from paxx_patch.bundle import sources

    pins: dict[sources.Source, SourcePin] = {}  # one fetch per source and revision

    def pinned(source: sources.Source) -> SourcePin:
        if source not in pins:
            pins[source] = sources.resolve(source, run.offline)
        return pins[source]

    switch = None
    if sourcing.source is not None and verb == "update":
        switch = sources.parse_source(
            sourcing.source, sourcing.rev, project_dir=project_dir,
            cwd=(run.cwd or Path.cwd()).resolve(), named=sources.named_sources(files, root),
        )
    bundles = []
    for name in names:
        record = lock.components[name]
        if verb == "remove" and record.source is not None:
            bundles.append(sources.load_pinned(record.source, name, project_dir, run.offline))
        elif verb == "update" and switch is not None:
            bundles.append(sources.bundle_at(switch, pinned(switch), name))
        elif verb == "update" and record.source is not None:
            source = sources.from_pin(record.source, project_dir, sourcing.rev)
            bundles.append(sources.bundle_at(source, pinned(source), name))
        elif sourcing.rev is not None:
            raise PaxxError(
                f"--rev {sourcing.rev}: {name} comes from the built-in bundles, which have no "
                f"revisions. To take it from a git repository: `paxx-patch update {name} --from "
                f"SOURCE@{sourcing.rev}`."
            )
        else:
            bundles.append(load_bundle(name, run.bundle_path))
    return bundles


def _removal_order(
    bundles: list[Bundle], lock: Lock, bundle_path: Sequence[str], lock_file: str
) -> list[Bundle]:
    """The components to remove, each before the ones it requires; refused while an
    installed component that stays requires one of them."""
    leaving = {b.name for b in bundles}
    available_dirs = available(bundle_path)
    for name in sorted(set(lock.components) - leaving):
        if name not in available_dirs:
            continue  # not a bundle here any more: nothing says what it requires
        staying = load_bundle(name, bundle_path)
        needed = sorted(leaving & {b.name for b in staying.with_requirements()[:-1]})
        if needed:
            raise PaxxError(
                f"{lock_file}: {name} is installed and requires {', '.join(needed)}, so "
                f"{' and '.join(needed)} cannot be removed while it stays. Remove {name} "
                f"first (`paxx-patch remove {name}`), or both at once "
                f"(`paxx-patch remove {name} {' '.join(needed)}`); nothing was changed."
            )
    ordered: list[Bundle] = []
    pending = list(bundles)
    while pending:
        # a component goes once nothing still pending requires it
        ready = next(b for b in pending if not any(
            b.name in {r.name for r in o.with_requirements()[:-1]} for o in pending if o is not b))
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def _three_way(
    verb: str, names: Sequence[str], run: Run, sets: dict[str, str], allow_downgrade: bool,
    sourcing: Sourcing,
) -> int:
    git, base, root = open_project(run.cwd, run.project_dir)
    with exclusive(git):
        plan, project = open_plan(git, base, root)
        lock = read_lock(plan.snapshot, project)
        if sourcing.source is not None and not names:
            raise PaxxError(f"--from {sourcing.source}: name the components to take from it, "
                            f"e.g. `paxx-patch update redis --from {sourcing.source}`.")
        targets = list(dict.fromkeys(names or sorted(lock.components)))
        if not targets:
            none = (f"no components are installed here ({project.lock_file} lists none); "
                    "nothing to update. See `paxx-patch list`.")
            if not run.as_json:
                print(none)
                return 0
            plan.notes.append(none)
            report(plan, [], run, verb=verb)
            return 0
        for name in targets:
            _require_installed(name, run.bundle_path, lock, verb)
        bundles = _target_bundles(targets, verb, lock, run, sourcing, plan.snapshot,
                                  project.root, git.top / project.root)
        if verb == "remove":
            bundles = _removal_order(bundles, lock, run.bundle_path, project.lock_file)
            targets = [b.name for b in bundles]
        previous = {n: lock.components[n].variables for n in targets}
        variables = resolve_variables(bundles, sets, previous)
        todo = []
        for bundle in bundles:
            record = lock.components[bundle.name]
            if verb == "update":
                order = (version.order(bundle.version) > version.order(record.version)) - (
                    version.order(bundle.version) < version.order(record.version))
                if order < 0 and not allow_downgrade:
                    raise PaxxError(
                        f"{bundle.name} {record.version} is installed and the bundle is the "
                        f"older {bundle.version}; pass --allow-downgrade to go back to it."
                    )
                if order == 0 and bundle.source == record.source and (
                    variables[bundle.name] == record.variables
                ):
                    plan.notes.append(f"{bundle.name} is up to date ({record.version}).")
                    continue
            todo.append((bundle, record))
        if not todo:
            report(plan, [], run, verb=verb)
            return 0
        after = set(lock.components) - ({b.name for b in bundles} if verb == "remove" else set())
        refreshed = observers(plan, lock, run, set(targets) if verb == "remove" else set(),
                              after, git.top / project.root)
        restore, head = begin_three_way(plan, project, [r for _, r in todo + refreshed])
        pristine: dict[str, bytes] = {}  # the new version's owned files, as rendered
        for bundle, record in todo:
            if verb == "remove":
                # as the lock stands now: a component removed earlier in this run may
                # have handed it a shared file
                current = read_lock(plan.snapshot, project).components
                record = current.get(bundle.name, record)
                # remove with the installed version's bundle when the built-in one moved on
                ctx = make_context(bundle, project, variables[bundle.name], removing=record,
                                   snapshot=plan.snapshot, refresh_lock=run.refresh_lock,
                                   object_format=git.object_format(), installed=after)
                staying = [r for n, r in current.items() if n != bundle.name]
                ctx.shared = shared_files(record, staying)
                ctx.shared_requirements = shared_requirements(record, staying)
            else:
                ctx = make_context(bundle, project, variables[bundle.name],
                                   snapshot=plan.snapshot, refresh_lock=run.refresh_lock,
                                   object_format=git.object_format(), installed=after)
                ctx.previous = record
            pristine.update(plan_component(plan, ctx))
        pristine.update(render_again(plan, project, refreshed, after, run.refresh_lock,
                                     git.object_format()))
        checkpoint("planned")
        finish_three_way(git, base, plan, run, verb, targets, restore, head, pristine)
    return 0


def observers(
    plan: Plan, lock: Lock, run: Run, changed: set[str], after: set[str], project_dir: Path,
) -> list[tuple[Bundle, ComponentRecord]]:
    """The installed components that stay and observe one this run adds or removes
    (`changed`; `after` is the set once the run is done): each is rendered again at its
    installed version, so its files come out as if it had been added after them."""
    from paxx_patch.bundle import sources

    found = []
    for name in sorted(after - changed):
        record = lock.components[name]
        if record.source is not None:
            bundle = sources.load_pinned(record.source, name, project_dir, run.offline)
        elif name in available(run.bundle_path):
            bundle = load_bundle(name, run.bundle_path)
        else:
            continue  # not a bundle here any more: nothing says what it observes
        seen = sorted(changed & set(bundle.observes))
        if not seen:
            continue
        if bundle.version != record.version:
            plan.notes.append(
                f"{name} {record.version} is installed and the bundle that takes "
                f"{', '.join(seen)} into account is {bundle.version}: "
                f"`paxx-patch update {name}` brings it in line."
            )
            continue
        found.append((bundle, record))
    return found


def render_again(
    plan: Plan, project: Project, refreshed: list[tuple[Bundle, ComponentRecord]],
    after: set[str], refresh_lock: bool, object_format: str,
) -> dict[str, bytes]:
    """Plan the new render of each observer (see `observers`) over its record, after the
    run's own changes; returns their owned files as rendered."""
    pristine: dict[str, bytes] = {}
    variables = resolve_variables([b for b, _ in refreshed], {},
                                  {b.name: r.variables for b, r in refreshed})
    for bundle, record in refreshed:
        record = read_lock(plan.snapshot, project).components.get(bundle.name, record)
        ctx = make_context(bundle, project, variables[bundle.name], snapshot=plan.snapshot,
                           refresh_lock=refresh_lock, object_format=object_format,
                           installed=after)
        ctx.previous = record
        pristine.update(plan_component(plan, ctx))
    return pristine


def begin_three_way(
    plan: Plan, project: Project, records: list[ComponentRecord]
) -> tuple[dict[str, bytes], dict[str, bytes | None]]:
    """Put the owned files of `records` the user edited back to their pristine blobs in
    the plan's tree, before any mutator runs: returns (pristine, HEAD's content) of those."""
    restore = _pristine(plan, project.path, records) if records else {}
    head = {p: plan.snapshot.base_content(p) for p in restore}
    plan.snapshot.rebase(restore)
    return restore, head


def finish_three_way(
    git: Git, base: str, plan: Plan, run: Run, verb: str, targets: Sequence[str],
    restore: dict[str, bytes], head: dict[str, bytes | None], pristine: dict[str, bytes],
    default_dir: str | None = None,
) -> None:
    """Deliver the planned commits: the user's edits of restored files meet them in a
    three-way merge (in memory, or a real cherry-pick that leaves any conflict)."""
    if not plan.commits:
        report(plan, [], run, verb=verb)
        return
    # the user's edited files land merged, so no branch holds the new pristine
    # render: a ref made with the change does, for `verify`'s diffs and the next
    # three-way update
    keep = (_pristine_ref(pristine), pristine) if restore and pristine else None
    if restore and run.output.lands:
        # the usual case merges cleanly in memory and lands like `add`; a conflict
        # goes through a real cherry-pick so git leaves it for the user
        try:
            plan.commits = carry_over(git, plan.commits, restore, head)
            restore = {}
        except Conflict:
            pass
    deliver_and_report(git, base, plan, run,
                       default_dir or f"paxx-patches/{verb}-{'+'.join(targets)}",
                       verb=verb, restore=restore,
                       what=f"{verb} of {', '.join(targets)}", keep=keep)


def _pristine(
    plan: Plan, path_of: Callable[[str], str], records: list[ComponentRecord]
) -> dict[str, bytes]:
    """Owned files whose content at HEAD differs from the pristine blob: path -> pristine."""
    wanted: dict[str, str] = {}
    for record in records:
        for relative, oid in record.verified_files().items():
            wanted[path_of(relative)] = oid
    plan.snapshot.load(wanted)
    contents = plan.snapshot.read_blobs(sorted(set(wanted.values())))
    return {p: contents[o] for p, o in wanted.items() if plan.snapshot.base_content(p) != contents[o]}


def _pristine_ref(files: dict[str, bytes]) -> str:
    """Named after its content: an existing one already holds the same files."""
    digest = hashlib.sha1("".join(f"{p}\0{blob_id(c)}\n" for p, c in sorted(files.items())).encode())
    return f"{REF_PREFIX}pristine/{digest.hexdigest()[:16]}"
