"""What the commands that change a repository share: finding it, reporting."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from paxx_patch.engine import Output, Plan
from paxx_patch.errors import PaxxError
from paxx_patch.git.repo import Git, discover
from paxx_patch.git.snapshot import Snapshot
from paxx_patch.project import Project, discover_project


def open_project(cwd: Path | None, project_dir: str | None) -> tuple[Git, str, str]:
    """The repository, its HEAD commit, and the project directory inside it."""
    here = (cwd or Path.cwd()).resolve()
    git = discover(here)
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
    return Plan(snapshot, notes=list(project.notes)), project


def report(plan: Plan, lines: list[str], output: Output) -> None:
    """Tell the user what happened; to stderr when stdout carries a patch or diff."""
    stream = sys.stderr if output.kind in ("stdout", "dry-run") else sys.stdout
    for line in lines:
        print(line, file=stream)
    for note in dict.fromkeys(plan.notes):
        print(f"note: {note}", file=stream)
    if not plan.commits:
        return
    if output.kind == "commit":
        print(f"{len(plan.commits)} commits added to your branch.", file=stream)
    elif output.kind == "dir":
        print(f"Apply with: git am -3 {os.path.dirname(lines[0]) if lines else ''}/*.patch",
              file=stream)
    if output.kind in ("commit", "branch") and plan.next_steps:
        print("\nNext steps:", file=stream)
        for step in plan.next_steps:
            print(step, file=stream)
