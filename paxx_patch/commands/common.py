"""What the commands that change a repository share: finding it, reporting."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from paxx_patch.discover.project import Project, discover_project
from paxx_patch.git.repo import Git, discover
from paxx_patch.git.snapshot import Snapshot
from paxx_patch.plan.engine import Kind, Output, Plan, deliver, unified_diff
from paxx_patch.runtime.errors import ConflictError, PaxxError, silence_stdout


@dataclass(frozen=True)
class Run:
    """What add, update and remove take besides their components: where the change
    goes, where the project and the bundles are, and how the outcome is told."""

    output: Output
    project_dir: str | None = None  # --project
    bundle_path: Sequence[str] = ()  # --bundle-path
    refresh_lock: bool = True  # not --no-lock: run the project's locker
    as_json: bool = False
    quiet: bool = False
    cwd: Path | None = None  # where the command runs (the process's own directory)
    offline: bool = False  # bundles from git sources come from the cache only


@dataclass(frozen=True)
class Sourcing:
    """--from and --rev: the git repository the bundles come from, at which revision."""

    source: str | None = None
    rev: str | None = None


def open_project(cwd: Path | None, project_dir: str | None) -> tuple[Git, str, str]:
    """The repository, its HEAD commit, and the project directory inside it."""
    here = (cwd or Path.cwd()).resolve()
    git = discover(here, from_environment=cwd is None)
    base = git.head()
    if base is None:
        raise PaxxError(
            f"{git.top} has no commits yet. paxx-patch builds on your last commit: "
            "commit your project first (`git add -A && git commit -m 'Initial commit'`)."
        )
    root = ""
    if not project_dir:
        # run from inside a sub-project: the nearest pyproject.toml up to the top
        top = git.top.resolve()
        for candidate in (here, *here.parents):
            if candidate == top or not candidate.is_relative_to(top):
                break
            if (candidate / "pyproject.toml").is_file():
                return git, base, candidate.relative_to(top).as_posix()
    if project_dir:
        target = (here / project_dir).resolve()
        if not target.is_dir():
            raise PaxxError(f"--project {project_dir}: {target} is not a directory.")
        try:
            root = target.relative_to(git.top.resolve()).as_posix()
        except ValueError:
            raise PaxxError(
                f"--project {project_dir}: {target} is outside the repository {git.top}."
            ) from None
        root = "" if root == "." else root
    return git, base, root


def open_plan(git: Git, base: str, root: str) -> tuple[Plan, Project]:
    snapshot = Snapshot(git, base)
    project = discover_project(snapshot, root)
    return Plan(snapshot, notes=list(project.notes), warnings=list(project.warnings)), project


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


class Style:
    """Colour and symbols on a terminal (unless NO_COLOR is set), plain text otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.on = stream.isatty() and not os.environ.get("NO_COLOR")

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on else text

    def warning(self, text: str) -> str:
        return f"{self.paint('! warning:', '1;33')} {text}" if self.on else f"warning: {text}"

    def heading(self, text: str) -> str:
        return self.paint(text, "1")


def deliver_and_report(
    git: Git, base: str, plan: Plan, run: Run, default_dir: str, *, verb: str,
    restore: dict[str, bytes] | None = None, what: str = "change",
    keep: tuple[str, dict[str, bytes]] | None = None,
) -> None:
    """Deliver the planned commits, then report: the end of add, update and remove.

    A dry run's diff goes to stdout, or into the --json document; a conflict left
    for the user carries its report into the error's JSON document."""
    if run.output.kind is Kind.DRY_RUN:
        diff = unified_diff(plan)
        if not run.as_json:
            sys.stdout.write(diff)
        report(plan, [], run, verb=verb, diff=diff)
        return
    try:
        lines = deliver(git, base, plan, run.output, default_dir, restore, what, keep)
    except ConflictError as e:
        e.report = summary_json(plan, [], run.output, verb, conflicts=e.paths)
        raise
    report(plan, lines, run, verb=verb)


def report(plan: Plan, lines: list[str], run: Run, *, verb: str = "add", diff: str | None = None) -> None:
    """One summary at the end of a command that changes a repository: what landed (or
    where the patches are), then warnings (what the user must act on), then the next
    steps. To stderr when stdout carries a patch or a diff.

    It runs after the change was delivered: a reader that went away (`| head -3`)
    only misses the report, so a closed pipe ends it quietly and the command still
    succeeds."""
    output = run.output
    stream = sys.stderr if output.kind in (Kind.STDOUT, Kind.DRY_RUN) else sys.stdout
    if run.as_json and output.kind is Kind.DRY_RUN:
        stream = sys.stdout  # the diff is inside the document: stdout holds nothing else
    try:
        if run.as_json:
            print(json.dumps(summary_json(plan, lines, output, verb, diff=diff), indent=2),
                  file=stream)
        else:
            _report(plan, lines, output, stream, run.quiet)
        stream.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
    except BrokenPipeError:
        silence_stdout()


def _report(plan: Plan, lines: list[str], output: Output, stream: TextIO, quiet: bool) -> None:
    style = Style(stream)
    warnings = list(dict.fromkeys(plan.warnings))
    if quiet:
        for warning in warnings:
            print(style.warning(warning), file=sys.stderr)
        return
    for line in lines:
        print(line, file=stream)
    for note in dict.fromkeys(plan.notes):
        print(f"note: {note}", file=stream)
    print(_outcome(plan, lines, output), file=stream)
    if warnings:
        print(f"\n{style.heading('Warnings:')}", file=stream)
        for warning in warnings:
            print(style.warning(warning), file=stream)
    if plan.commits and output.kind is not Kind.DRY_RUN and plan.next_steps:
        after = {kind: " (once the patches are applied)" for kind in (Kind.DIR, Kind.STDOUT)}
        print(f"\n{style.heading('Next steps' + after.get(output.kind, '') + ':')}", file=stream)
        for step in plan.next_steps:
            print(step, file=stream)


def _outcome(plan: Plan, lines: list[str], output: Output) -> str:
    count = len(plan.commits)
    if not count:
        return "Nothing to change."
    if output.kind is Kind.COMMIT:
        return f"{plural(count, 'commit')} added to your branch."
    if output.kind is Kind.BRANCH:
        return f"{plural(count, 'commit')} on the new branch {output.value}; your checkout is untouched."
    if output.kind is Kind.DIR:
        directory = os.path.dirname(lines[0]) if lines else output.value
        return (f"{plural(len(lines), 'patch', 'patches')} written to {directory}/; nothing else "
                f"changed. Apply with: git am -3 {directory}/*.patch")
    if output.kind is Kind.STDOUT:
        return f"{plural(count, 'patch', 'patches')} written to stdout, for `git am -3`; nothing else changed."
    return f"Nothing was written (--dry-run): the diff above is what {plural(count, 'commit')} would change."


def summary_json(
    plan: Plan, lines: list[str], output: Output, verb: str, *, diff: str | None = None,
    conflicts: list[str] | None = None,
) -> dict[str, Any]:
    """The machine-readable report of add/update/remove, for CI and fleet roll-outs
    (its schema: paxx_patch/report.schema.json)."""
    landed = output.lands and conflicts is None
    outcome = ("conflict" if conflicts is not None else "nothing" if not plan.commits
               else "dry-run" if output.kind is Kind.DRY_RUN else "landed" if landed else "patches")
    return {
        "command": verb,
        "outcome": outcome,
        "output": output.kind,
        **({"branch": output.value} if output.kind is Kind.BRANCH else {}),
        "commits": [
            {"component": c.component, "version": c.version, "mutator": c.mutator,
             "subject": c.message().splitlines()[0], "files": sorted(c.changes),
             **({"sha": sha} if sha else {})}
            for c, sha in zip(plan.commits, _shas(plan, output), strict=True)
        ],
        "landed": landed and bool(plan.commits),
        "patches": lines if output.kind is Kind.DIR else [],
        "diff": diff if output.kind is Kind.DRY_RUN else None,
        "conflicts": conflicts or [],
        "notes": list(dict.fromkeys(plan.notes)),
        "warnings": list(dict.fromkeys(plan.warnings)),
        "next_steps": plan.next_steps if outcome in ("landed", "patches") else [],
    }


def _shas(plan: Plan, output: Output) -> list[str]:
    """The commits' ids where they stay (on the branch, or behind the patches), else blanks."""
    if output.lands and len(plan.shas) == len(plan.commits):
        return plan.shas
    return [""] * len(plan.commits)
