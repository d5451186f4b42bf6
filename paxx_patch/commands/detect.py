"""paxx-patch detect: the conventions found in this project, with file:line and rule."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from paxx_patch.commands.common import open_plan, open_project


def detect(*, as_json: bool, project_dir: str | None, cwd: Path | None = None) -> int:
    git, base, root = open_project(cwd, project_dir)
    _, project = open_plan(git, base, root)
    if as_json:
        print(json.dumps({
            "project": project.root or ".",
            "conventions": [asdict(f) for f in project.findings],
            "notes": list(project.notes),
        }, indent=2))
        return 0
    print(f"project: {project.root or '.'}")
    width = max((len(f.convention) for f in project.findings), default=0)
    for finding in project.findings:
        where = f"  ({finding.where()})" if finding.file else ""
        print(f"{finding.convention:<{width}}  {finding.value}{where}")
        if finding.rule:
            print(f"{'':<{width}}    rule: {finding.rule}")
    for note in project.notes:
        print(f"note: {note}")
    return 0
