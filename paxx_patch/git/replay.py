"""Put commits made on a base A onto another commit: cherry-pick or merge-tree."""

from __future__ import annotations

from paxx_patch.git import sign
from paxx_patch.git.repo import Git
from paxx_patch.runtime.errors import ConflictError, PaxxError


def cherry_pick(git: Git, a: str, tip: str, what: str) -> None:
    """Cherry-pick A..tip onto HEAD in the user's checkout; conflicts stay for the user.

    git (2.39 at least) leaves `AUTO_MERGE` behind a pick that merged a file and went
    on cleanly; it belongs to a conflict, so a clean pick takes it away again."""
    auto_merge = git.git_dir / "AUTO_MERGE"
    had_auto_merge = auto_merge.exists()
    proc = git.run("cherry-pick", "--no-rerere-autoupdate", f"{a}..{tip}", check=False)
    if proc.returncode == 0:
        if not had_auto_merge:
            auto_merge.unlink(missing_ok=True)
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
        "paxx-patch.lock moves only when the last commit lands.",
        conflicted.splitlines(),
    )


def replay_trees(git: Git, onto: str, commits: list[str], signed: bool = False) -> str:
    """Replay `commits` (each on its parent) onto `onto` without a working tree.

    `merge-tree --write-tree` takes its merge base from history (`--merge-base`
    needs git 2.40), so each step merges two throwaway commits that share a
    parent holding the commit's parent tree: a cherry-pick, done on trees only.
    """
    tip = onto
    for commit in commits:
        base = git.out("commit-tree", f"{commit}^^{{tree}}", "-m", "paxx-patch: merge base")
        ours = git.out("commit-tree", f"{tip}^{{tree}}", "-p", base, "-m", "paxx-patch: ours")
        theirs = git.out("commit-tree", f"{commit}^{{tree}}", "-p", base, "-m", "paxx-patch: theirs")
        proc = git.run("merge-tree", "--write-tree", "--no-messages", ours, theirs, check=False)
        if proc.returncode > 1:
            raise PaxxError(f"git merge-tree failed: {proc.stderr.decode(errors='replace').strip()}")
        if proc.returncode == 1:
            raise ConflictError(
                "the change conflicts with your commits, and a new branch has no working "
                "tree to resolve them in. Run it with --commit (conflicts are left for you "
                "to resolve) or -o DIR and `git am -3`. Nothing was changed."
            )
        tree = proc.stdout.decode().split()[0]
        env_msg = git.run("log", "-1", "--format=%B", commit).stdout
        tip = sign.commit(git, tree, tip, env_msg) if signed else git.out(
            "commit-tree", tree, "-p", tip, input=env_msg)
    return tip
