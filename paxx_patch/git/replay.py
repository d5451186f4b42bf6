"""Put commits made on a base A onto another commit: cherry-pick or merge-tree."""

from __future__ import annotations

from paxx_patch.errors import ConflictError, PaxxError
from paxx_patch.git.repo import Git


def cherry_pick(git: Git, a: str, tip: str, what: str) -> None:
    """Cherry-pick A..tip onto HEAD in the user's checkout; conflicts stay for the user."""
    proc = git.run("cherry-pick", "--no-rerere-autoupdate", f"{a}..{tip}", check=False)
    if proc.returncode == 0:
        return
    in_progress = git.run("rev-parse", "-q", "--verify", "CHERRY_PICK_HEAD", check=False).returncode == 0
    if not in_progress:
        git.run("cherry-pick", "--abort", check=False)
        raise PaxxError(
            f"git could not start the {what}: {proc.stderr.decode(errors='replace').strip()}"
        )
    conflicted = git.out("diff", "--name-only", "--diff-filter=U")
    files = "\n".join(f"  {p}" for p in conflicted.splitlines())
    raise ConflictError(
        f"the {what} conflicts with your changes in:\n{files}\n"
        "Resolve the conflicts, `git add` the files and run `git cherry-pick --continue`; "
        "or run `git cherry-pick --abort` to go back to where you were. "
        "paxx-patch.lock moves only when the last commit lands."
    )


def replay_trees(git: Git, onto: str, commits: list[str]) -> str:
    """Replay `commits` (each on its parent) onto `onto` without a working tree."""
    tip = onto
    for commit in commits:
        proc = git.run("merge-tree", "--write-tree", "--no-messages", f"--merge-base={commit}^",
                       tip, commit, check=False)
        if proc.returncode != 0:
            raise ConflictError(
                "the change conflicts with your commits, and a new branch has no working "
                "tree to resolve them in. Run it with --commit (conflicts are left for you "
                "to resolve) or -o DIR and `git am -3`. Nothing was changed."
            )
        tree = proc.stdout.decode().split()[0]
        env_msg = git.run("log", "-1", "--format=%B", commit).stdout
        tip = git.out("commit-tree", tree, "-p", tip, input=env_msg)
    return tip
