"""The outputs that leave the user's checkout alone: a new branch, a patch series."""

from __future__ import annotations

from pathlib import Path

from paxx_patch.git.repo import Git
from paxx_patch.runtime.errors import PaxxError


def refuse_branch(git: Git, name: str) -> None:
    """--branch NAME names a new branch: a name git accepts (`@`, `HEAD` and `-x` are
    not), not taken yet. Checked before anything is built."""
    well_formed = git.run("check-ref-format", f"refs/heads/{name}", check=False).returncode == 0
    if not well_formed or name in ("@", "HEAD") or name.startswith("-"):  # git's shorthands
        raise PaxxError(f"{name!r} is not a valid branch name; pick another --branch NAME. "
                        "Nothing was changed.")
    if git.run("rev-parse", "-q", "--verify", f"refs/heads/{name}", check=False).returncode == 0:
        _exists(name)


def create_branch(git: Git, name: str, tip: str) -> None:
    """The branch, if nobody made it meanwhile (`refuse_branch` came first)."""
    proc = git.run("update-ref", "-m", "paxx-patch: branch", f"refs/heads/{name}", tip, "", check=False)
    if proc.returncode != 0:
        _exists(name)


def _exists(name: str) -> None:
    raise PaxxError(
        f"branch {name!r} already exists; pick another --branch NAME or delete it "
        f"with `git branch -D {name}`. Nothing was changed."
    )


def refuse_patches_in(directory: Path) -> None:
    if directory.exists() and any(directory.glob("*.patch")):
        raise PaxxError(
            f"{directory} already holds .patch files; remove them or choose another "
            "-o DIR, so the series is not mixed with an older one. Nothing was changed."
        )


def write_patches(git: Git, base: str, tip: str, directory: Path) -> list[Path]:
    """The series as files in `directory` (`refuse_patches_in` came first)."""
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
