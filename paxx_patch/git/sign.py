"""Signed commits where the repository asks for them.

fast-import signs nothing, so when `commit.gpgsign` is set, the commits that land
on the user's branches are written again by `git commit-tree -S`: same trees,
messages, authors and dates, signed as git itself signs (`gpg.format` openpgp,
x509 or ssh, `user.signingkey`). A signature that cannot be made is a refusal:
the commits are still in the run's quarantine, so nothing was changed.
"""

from __future__ import annotations

from dataclasses import replace

from paxx_patch.git.repo import Git
from paxx_patch.runtime.errors import PaxxError, git_failed


def wanted(git: Git) -> bool:
    proc = git.run("config", "--bool", "--get", "commit.gpgsign", check=False)
    return proc.stdout.strip() == b"true"


def ident_env(kind: str, ident: str) -> dict[str, str]:
    """`Name <email> epoch tz` as GIT_{kind}_NAME, _EMAIL and _DATE."""
    name, _, rest = ident.partition(" <")
    email, _, date = rest.partition("> ")
    return {f"GIT_{kind}_NAME": name, f"GIT_{kind}_EMAIL": email, f"GIT_{kind}_DATE": date}


def commit(git: Git, tree: str, parent: str | None, message: bytes) -> str:
    """`git commit-tree -S`: a signed commit, or a refusal that says how to set signing up."""
    proc = git.run("commit-tree", "-S", tree, *(("-p", parent) if parent else ()),
                   input=message, check=False)
    if proc.returncode != 0:
        said = git_failed(("commit-tree", "-S"), proc.stderr, proc.returncode)
        raise PaxxError(
            f"commit.gpgsign is set for this repository, and git could not sign the commits "
            f"({said}). Set signing up so that `git commit -S` works (user.signingkey, "
            "gpg.format), or unset commit.gpgsign here; or deliver the change unsigned with "
            "-o DIR. Nothing was changed."
        )
    return proc.stdout.decode().strip()


def signed_chain(git: Git, base: str | None, shas: list[str], author: str, committer: str) -> list[str]:
    """The chain `shas` (each on the one before, the first on `base`) again, signed."""
    signer = replace(git, env={**git.env, **ident_env("AUTHOR", author),
                               **ident_env("COMMITTER", committer)})
    objects = git.cat_blobs(shas)  # raw commit objects: `tree X` first, the message after a blank line
    parent, out = base, []
    for sha in shas:
        header, _, message = objects[sha].partition(b"\n\n")
        tree = header.split(b"\n", 1)[0].split()[1].decode()
        parent = commit(signer, tree, parent, message)
        out.append(parent)
    return out
