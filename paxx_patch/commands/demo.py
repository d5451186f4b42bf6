"""paxx-patch demo: a sample project in a new repository, with redis added."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from paxx_patch.commands.add import add
from paxx_patch.commands.common import Run
from paxx_patch.git.repo import clean_env
from paxx_patch.plan.engine import Kind, Output
from paxx_patch.runtime.errors import PaxxError

SAMPLE = Path(__file__).resolve().parent.parent / "sample"


def demo(*, directory: str) -> int:
    target = Path(directory).resolve()
    if target.exists() and any(target.iterdir()):
        raise PaxxError(f"{target} already exists and is not empty; name a new DIR: `paxx-patch demo DIR`.")
    target.mkdir(parents=True, exist_ok=True)
    for item in SAMPLE.iterdir():
        if item.is_file() and item.name != "__init__.py":
            shutil.copy2(item, target / item.name)
    env = clean_env()

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=target, env=env, check=True,
                              capture_output=True, text=True).stdout

    git("init", "-q")
    if subprocess.run(["git", "var", "GIT_COMMITTER_IDENT"], cwd=target, env=env,
                      capture_output=True, check=False).returncode != 0:
        git("config", "user.name", "paxx-patch demo")
        git("config", "user.email", "demo@example.com")
    git("add", "-A")
    git("commit", "-q", "--no-verify", "-m", "Sample FastAPI project")
    print(f"Sample project created in {target}; adding redis with --commit:\n")
    code = add(["redis"], Run(Output(Kind.COMMIT), cwd=target))
    print("\n$ git log --stat --format='%h %s'\n")
    print(git("log", "--stat", "--format=%h %s"))
    return code
