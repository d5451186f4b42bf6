"""The outputs that leave the user's checkout alone: a new branch, a patch series."""

from __future__ import annotations

from pathlib import Path

from paxx_patch.git.repo import Git
from paxx_patch.runtime.errors import PaxxError


def create_branch(git: Git, name: str, tip: str) -> None:
    if git.run("check-ref-format", "--branch", name, check=False).returncode != 0:
        raise PaxxError(f"{name!r} is not a valid branch name; pick another --branch NAME.")
    proc = git.run("update-ref", "-m", "paxx-patch: branch", f"refs/heads/{name}", tip, "", check=False)
    if proc.returncode != 0:
        raise PaxxError(
            f"branch {name!r} already exists; pick another --branch NAME or delete it "
            f"with `git branch -D {name}`. Nothing was changed."
        )


def write_patches(git: Git, base: str, tip: str, directory: Path) -> list[Path]:
    if directory.exists() and any(directory.glob("*.patch")):
        raise PaxxError(
            f"{directory} already holds .patch files; remove them or choose another "
            "-o DIR, so the series is not mixed with an older one. Nothing was changed."
        )
    directory.mkdir(parents=True, exist_ok=True)
    out = git.out(
        "format-patch", "--full-index", "--no-signature", "--zero-commit",
        "-o", str(directory.resolve()), f"{base}..{tip}",
    )
    return [Path(line) for line in out.splitlines() if line]


def patch_mbox(git: Git, base: str, tip: str) -> bytes:
    return git.run(
        "format-patch", "--full-index", "--no-signature", "--zero-commit", "--stdout",
        f"{base}..{tip}",
    ).stdout
