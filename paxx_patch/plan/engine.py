"""The engine: run the mutators on the sparse tree, build commits, deliver them.

Nothing here writes to the user's working tree, index, HEAD or config until
every commit of the change exists and is held by a ref; then one output step
(`paxx_patch.git.land`) delivers the change as git would.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
import sys
import time
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from paxx_patch.bundle import Bundle
from paxx_patch.bundle.render import (
    Installed,
    ServiceNames,
    render_string,
    render_templates,
)
from paxx_patch.bundle.render_compose import render_compose
from paxx_patch.discover.project import Project
from paxx_patch.git import kept, land, outputs, replay, sign
from paxx_patch.git.build import REF_PREFIX, CommitSpec, build_commits, files_commit
from paxx_patch.git.quarantine import prune_stale, quarantine
from paxx_patch.git.repo import Git
from paxx_patch.git.snapshot import Snapshot
from paxx_patch.manifest import Lock, decode_lock, parse_lock
from paxx_patch.mutators import Context, Mutator, registry
from paxx_patch.plan import package_locks
from paxx_patch.runtime.errors import PaxxError
from paxx_patch.runtime.faults import checkpoint

FALLBACK_IDENT = "paxx-patch <paxx-patch@localhost>"


class Kind(StrEnum):
    """Where the change goes; the value is what `--json` reports as `output`."""

    COMMIT = "commit"  # onto the checked-out branch
    BRANCH = "branch"  # a new branch, the checkout untouched
    DIR = "dir"  # a patch series in a directory
    STDOUT = "stdout"  # the series as one mbox on stdout
    DRY_RUN = "dry-run"  # the diff, nothing written


@dataclass(frozen=True)
class Output:
    kind: Kind
    value: str = ""  # the branch name or the directory
    only: bool = False  # the command has no other output (eject): refusals offer none

    @property
    def lands(self) -> bool:
        """The commits go onto the user's branches: their identity, their signatures."""
        return self.kind in (Kind.COMMIT, Kind.BRANCH)


@dataclass
class PlannedCommit:
    component: str
    version: str
    mutator: str
    subject: str
    changes: dict[str, bytes | None]

    def message(self) -> str:
        subject, body = short_subject(f"paxx({self.component}): ", self.mutator, self.subject)
        return (
            f"paxx({self.component}): {subject}\n\n"
            + (f"{body}\n\n" if body else "")
            + f"Paxx-Component: {self.component}\n"
            f"Paxx-Version: {self.version}\n"
            f"Paxx-Mutator: {self.mutator}\n"
        )


SUBJECT_LIMIT = 72  # characters: what `git log --oneline` and review tools show whole
_ITEMS = {  # what a mutator's subject lists, by mutator
    "files": ("file", "files"), "compose": ("service", "services"),
    "dependencies": ("dependency", "dependencies"), "settings": ("setting", "settings"),
    "env": ("variable", "variables"),
}
_LISTING = re.compile(r"^(\w+) (.+?)(?: (to|from|in) (\S+))?$")


def short_subject(prefix: str, mutator: str, subject: str) -> tuple[str, str]:
    """A subject that fits SUBJECT_LIMIT with `prefix`, and the body holding what it left
    out: `add 3 dependencies to pyproject.toml` above the list of the three."""
    if len(prefix + subject) <= SUBJECT_LIMIT:
        return subject, ""
    m = _LISTING.match(subject)
    if m and mutator in _ITEMS:
        items = m.group(2).split(", ")
        one, many = _ITEMS[mutator]
        short = f"{m.group(1)} {len(items)} {one if len(items) == 1 else many}"
        short += f" {m.group(3)} {m.group(4)}" if m.group(3) else ""
        if len(prefix + short) <= SUBJECT_LIMIT:
            return short, "\n".join(f"- {item}" for item in items)
    room = SUBJECT_LIMIT - len(prefix) - 3
    return subject[:room].rsplit(" ", 1)[0] + "...", subject


@dataclass
class Plan:
    snapshot: Snapshot
    commits: list[PlannedCommit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    shas: list[str] = field(default_factory=list)  # of `commits`, once built where they stay

    def touched(self) -> list[str]:
        return sorted({p for c in self.commits for p in c.changes})


def read_lock(snapshot: Snapshot, project: Project) -> Lock:
    raw = snapshot.get(project.lock_file)
    return parse_lock(decode_lock(raw, project.lock_file), project.lock_file)


def template_context(
    bundle: Bundle, project: Project, variables: dict[str, str],
    install_command: str = "pip install -e .", installed: AbstractSet[str] = frozenset(),
) -> dict[str, Any]:
    """`installed`: the components installed once the run is done; the templates see
    only those their bundle observes (`installed.metrics`), so any other name fails."""
    return {
        "install_command": install_command,
        "component": bundle.name,
        "version": bundle.version,
        "settings_import": project.settings_import,
        "settings_expr": project.settings_expr,
        # the settings of the bundles it requires too: tasks reads redis's URL
        "field": {s.name: project.field_name(s.name) for s in bundle.template_settings},
        "env": {s.name: project.env_key(s.name) for s in bundle.template_settings},
        "services_package": project.services_package,
        "vars": variables,
        "installed": Installed({name: name in installed for name in bundle.observes}),
    }


def make_context(
    bundle: Bundle, project: Project, variables: dict[str, str], removing: Any = None,
    object_format: str = "sha1",
    *, snapshot: Snapshot | None = None, refresh_lock: bool = True,
    installed: AbstractSet[str] = frozenset(),
) -> Context:
    install = "pip install -e ."
    if snapshot is not None:
        install = package_locks.install_command(snapshot, project.dependency_file, project.dependency_style)
    context = template_context(bundle, project, variables, install, installed)
    rendered = {
        f"{project.services_dir}/{target}": _in_project_style(target, text, project).encode()
        for target, text in render_templates(bundle, context).items()
    }
    fragment = render_compose(bundle, context) if bundle.compose_path else ""
    served = routes_elsewhere(snapshot, project, bundle) if snapshot is not None and removing is None else {}
    warnings = found_in_app(snapshot, project, bundle) if snapshot is not None and removing is None else []
    return Context(
        bundle=bundle, project=project, variables=variables, template_context=context,
        rendered=rendered, compose_fragment=fragment, removing=removing,
        refresh_lock=refresh_lock, warnings=warnings,
        object_format=object_format, routes_elsewhere=served,
    )


def _grep_app_package(snapshot: Snapshot, project: Project, *pattern: str) -> list[tuple[str, str, str]]:
    """(path, line, text) of the lines `git grep PATTERN` finds in the Python modules of
    the app's package (its top two levels when that is the repository root) other than
    the components' own: the cost follows the package, not the repository."""
    if not project.app_file:
        return []
    package = posixpath.dirname(project.app_file)
    depth = ["--max-depth", "2"] if not package else []
    proc = snapshot.git.run("grep", "-n", "-I", *depth, *pattern, snapshot.base, "--", package or ".",
                            check=False)
    hits = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        _, path, number, text = (line.split(":", 3) + ["", "", ""])[:4]
        if path.endswith(".py") and not path.startswith(f"{project.services_dir}/"):
            hits.append((path, number, text.strip()))
    return hits


def found_in_app(snapshot: Snapshot, project: Project, bundle: Bundle) -> list[str]:
    """The bundle's `warn_when_found` messages for the code the app's package holds."""
    out = []
    for code, message in bundle.warn_when_found.items():
        hit = next(iter(_grep_app_package(snapshot, project, "-F", "-e", code)), None)
        if hit is not None:
            out.append(f"{bundle.name}: {hit[0]}:{hit[1]} has `{code}`: {message}")
    return out


_ROUTE_CALLS = r"\.(get|head|api_route|route|add_route|add_api_route|mount)\([[:space:]]*(path[[:space:]]*=[[:space:]]*)?"


def routes_elsewhere(snapshot: Snapshot, project: Project, bundle: Bundle) -> dict[str, str]:
    """Where the app's package declares a route on one of the bundle's URL paths outside
    the app module (`@router.get("/metrics")` in views/metrics.py)."""
    found: dict[str, str] = {}
    for url, _ in bundle.wiring.routes:
        quoted = re.escape(url).replace("\\/", "/")
        pattern = f"{_ROUTE_CALLS}[\"']{quoted}/?[\"']"
        hits = [h for h in _grep_app_package(snapshot, project, "-E", "-e", pattern) if h[0] != project.app_file]
        if hits:
            found[url] = f"{hits[0][0]}:{hits[0][1]}: {hits[0][2]}"
    return found


def _in_project_style(target: str, text: str, project: Project) -> str:
    return project.style.module(text) if target.endswith(".py") else text


def resolve_variables(
    bundles: Sequence[Bundle], sets: dict[str, str], previous: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    """Each bundle's template variables: defaults, then the lock's, then --set."""
    known = {k for b in bundles for k in b.variables}
    unknown = sorted(set(sets) - known)
    if unknown:
        names = ", ".join(b.name for b in bundles)
        takes = (f"its variables are {', '.join(sorted(known))}" if known
                 else "it takes no variables" if len(bundles) == 1 else "they take no variables")
        raise PaxxError(f"--set {unknown[0]}: no variable {unknown[0]!r} in {names}; {takes}.")
    return {
        b.name: {
            **b.variables,
            **{k: b.check_variable(k, v, f"paxx-patch.lock: components.{b.name}.variables.{k}")
               for k, v in previous.get(b.name, {}).items() if k in b.variables},
            **{k: b.check_variable(k, v, f"--set {k}") for k, v in sets.items() if k in b.variables},
        }
        for b in bundles
    }


def run_mutators(
    snapshot: Snapshot, ctx: Context, mutators: Sequence[Mutator] | None = None
) -> list[PlannedCommit]:
    """Apply each mutator to the sparse tree; one planned commit per mutator that changed something."""
    commits = []
    for mutator in mutators if mutators is not None else registry():
        paths = list(mutator.paths(ctx))
        snapshot.load(paths)
        changes: dict[str, bytes | None] = {}
        for path in paths:
            old = snapshot.get(path)
            new = mutator.apply(path, old, ctx)
            if new != old:
                changes[path] = new
                snapshot.set(path, new)
        if mutator.name == "dependencies" and ctx.project.dependency_file in changes:
            # the project's own lock moves with its dependencies, in the same commit
            changes.update(_refreshed_lock(snapshot, ctx))
        if changes:
            commits.append(PlannedCommit(
                component=ctx.bundle.name,
                version=ctx.bundle.version,
                mutator=mutator.name,
                subject=mutator.subject(ctx, sorted(changes)),
                changes=changes,
            ))
    return commits


def plan_component(plan: Plan, ctx: Context) -> dict[str, bytes]:
    """Run the mutators for one component into the plan (its commits, notes and
    warnings); returns its owned files as rendered, for the three-way step."""
    plan.commits += run_mutators(plan.snapshot, ctx)
    plan.notes += ctx.notes
    plan.warnings += ctx.warnings
    return ctx.owned_files


def _refreshed_lock(snapshot: Snapshot, ctx: Context) -> dict[str, bytes | None]:
    """Every lock file the new dependencies concern: refreshed here, or named in a warning."""
    entry = (ctx.removing.entries if ctx.removing is not None else ctx.entries).get("dependencies", {})
    result = package_locks.refresh_all(snapshot, ctx.project.dependency_file, ctx.refresh_lock,
                                   list(entry.get("added", [])), ctx.removing is not None)
    ctx.warnings += result.warnings
    return dict(result.changes)


def next_steps(ctx: Context) -> str:
    """The bundle's next steps as they stand after the run: `wired` tells the text whether
    the wiring is already committed, so it does not ask for it a second time."""
    reused = ctx.entries.get("compose", {}).get("reused", {})
    context = {**ctx.template_context, "wired": "wiring" in ctx.entries, "service": ServiceNames(reused)}
    text = render_string(ctx.bundle, ctx.bundle.next_steps, context, "next_steps")
    return text.strip()


class Busy(PaxxError):
    """Another paxx-patch holds the run lock."""


def settle(git: Git) -> None:
    """What a run settles first (a killed run's landing, quarantine and refs, a pick's
    pristine files), for a command that only reads: skipped while another paxx-patch
    runs, which settles them itself."""
    try:
        with exclusive(git):
            pass
    except Busy:
        pass


@contextmanager
def exclusive(git: Git) -> Iterator[None]:
    """One paxx-patch at a time per repository; a second one fails cleanly."""
    path = git.git_dir / "paxx-patch.running"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or "0")
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise Busy(
                    f"another paxx-patch (pid {pid}) is working in this repository; wait "
                    f"for it to finish. If it is gone, delete {path}."
                ) from None
            path.unlink(missing_ok=True)  # left by a run that was killed
            continue
        try:
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
        except BaseException:  # a full disk: the marker goes with the run
            path.unlink(missing_ok=True)
            raise
        break
    else:
        raise PaxxError(f"cannot take {path}; delete it if no paxx-patch is running.")
    try:
        land.recover(git)  # a landing left by a run that was killed outright
        prune_stale(git.git_dir, _alive)
        kept.settle(git, _alive)
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def identities(git: Git, required: bool) -> tuple[str, str]:
    """(author, committer) idents; commits that land on the user's branches need the
    user's own, anything else may fall back to paxx-patch's."""
    try:
        return git.ident("AUTHOR"), git.ident()
    except PaxxError:
        if required:
            raise
        fallback = f"{FALLBACK_IDENT} {int(time.time())} +0000"
        return fallback, fallback


def deliver(
    git: Git, base: str, plan: Plan, output: Output, default_dir: str,
    restore: dict[str, bytes] | None = None, what: str = "change",
    keep: tuple[str, dict[str, bytes]] | None = None,
) -> list[str]:
    """Build the planned commits and deliver them; returns the lines to print.

    With `restore` (update/remove after the user edited owned files), a commit A
    putting those files back to their pristine content comes first; the planned
    commits sit on A and reach the user's branch by cherry-pick (or merge-tree for
    a new branch), and a patch series is made from A so its pre-images are A's.
    `keep` is (ref, files): a ref created with the change, holding files it needs.

    Everything is built in the run's quarantine and published only at the step that
    cannot do without it: a refusal on the way leaves no object behind.
    """
    if output.kind is Kind.DRY_RUN:
        sys.stdout.write(unified_diff(plan))
        return []
    if output.kind is Kind.DIR:
        _check_output_dir(Path(output.value or default_dir))
    if output.kind is Kind.BRANCH:
        outputs.refuse_branch(git, output.value)
    plan.snapshot.refuse_linked_parents(plan.touched())
    author, ident = identities(git, required=output.lands)
    commits = list(plan.commits)
    if restore:
        commits.insert(0, PlannedCommit("paxx-patch", "-", "restore",
                                        "restore pristine component files", dict(restore)))
    specs = [
        CommitSpec(c.message(), c.changes, {p: plan.snapshot.mode(p) for p in c.changes})
        for c in commits
    ]
    picking = output.kind is Kind.COMMIT and bool(restore)
    with quarantine(git) as held:
        ref = None
        if keep is not None and not kept.exists(git, keep[0]):
            # a pick may be left to the user: its ref waits for the outcome (`kept.settle`)
            ref = kept.pending(keep[0], base) if picking else keep[0]
            held.refs[ref] = files_commit(git, keep[1], ident)
        shas = build_commits(git, base, specs, author, ident)
        signed = output.lands and sign.wanted(git)
        if signed and not restore:  # a pick (or a replay, below) signs as it goes
            shas = sign.signed_chain(git, base, shas, author, ident)
        checkpoint("built")
        start, tip = (shas[0], shas[-1]) if restore else (base, shas[-1])
        made = shas[1:] if restore else shas
        if not restore:
            plan.shas = list(made)
        if output.kind is Kind.COMMIT:
            if picking:
                land.pick_onto_head(git, start, tip, plan.touched(), what, held.publish)
                if ref is not None:
                    kept.promote(git, ref)
                return []
            warnings = land.land_on_head(git, base, tip, plan.touched(), not output.only,
                                         held.publish)
            return [f"{sha[:10]} {c.message().splitlines()[0]}" for sha, c in zip(shas, plan.commits, strict=True)] + warnings
        if output.kind is Kind.BRANCH:
            new = replay.replay_trees(git, base, made, signed) if restore else tip
            held.publish()
            outputs.create_branch(git, output.value, new)
            return [f"branch {output.value}: {len(made)} commits on {base[:10]}"]
        if restore:  # the series' pre-images are A's blobs: keep A reachable for `git am -3`
            held.refs[f"{REF_PREFIX}base/{tip[:12]}"] = start
        if output.kind is Kind.STDOUT:
            mbox = outputs.patch_mbox(git, start, tip)
        else:
            directory = Path(output.value or default_dir)
            outputs.refuse_patches_in(directory)
        if held.refs:  # else the series holds all it needs: its objects are not kept
            held.publish()
        if output.kind is Kind.STDOUT:
            sys.stdout.buffer.write(mbox)
            sys.stdout.flush()
            return []
        return [str(p) for p in outputs.write_patches(git, start, tip, directory)]


def _check_output_dir(directory: Path) -> None:
    """-o names a directory to fill; refuse anything else before a commit is built."""
    for here in (directory, *directory.parents):
        if here.exists() or here.is_symlink():
            if not here.is_dir():
                raise PaxxError(
                    f"-o {directory}: {here} exists and is not a directory; the patch "
                    "series goes into a directory. Choose another -o DIR. Nothing was changed."
                )
            break


def unified_diff(plan: Plan) -> str:
    out = []
    for path in plan.touched():
        before = plan.snapshot.base_content(path)
        after = plan.snapshot.get(path)
        if before == after:
            continue
        a = (before or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        b = (after or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        out.append(f"diff --git a/{path} b/{path}\n")
        if before is None:
            out.append("new file mode 100644\n")
        if after is None:
            out.append("deleted file mode 100644\n")
        lines = difflib.unified_diff(
            a, b, "/dev/null" if before is None else f"a/{path}",
            "/dev/null" if after is None else f"b/{path}",
        )
        out.extend(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return "".join(out)
