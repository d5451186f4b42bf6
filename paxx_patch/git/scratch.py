"""A throw-away repository: a directory of files committed once, for trying a change.

It gets its own identity and no hooks (an empty template directory), and its
commit is not signed, so nothing of the user's git set-up runs in it.
"""

from __future__ import annotations

from pathlib import Path

from paxx_patch.git.repo import Git, clean_env

IDENTITY = ("paxx-patch", "paxx-patch@localhost")


def scratch_repository(directory: Path, message: str) -> Git:
    """`directory` (holding the files) as a new repository with one commit of them all."""
    env = clean_env()
    git = Git(top=directory, git_dir=directory / ".git", env=env)
    git.run("init", "-q", "--template=")
    git.run("config", "user.name", IDENTITY[0])
    git.run("config", "user.email", IDENTITY[1])
    git.run("config", "commit.gpgsign", "false")
    git.run("add", "-A")
    git.run("commit", "-q", "--no-verify", "-m", message)
    return git
