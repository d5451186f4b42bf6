"""`--commit` refuses instead of destroying: things in the way, operations in progress,
ejected files; a failing post-checkout hook is a warning, not a failure; what else
landing must keep (other work in the index, linked worktrees, SHA-256)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REDIS_COMMITS, REDIS_NEWER, git
from tests.test_landing_faults import newer_bundles


def refused(run, state, repo: Path, *argv: str, expect: str) -> str:
    before = state(repo)
    code, out, err = run(repo, *argv)
    assert code == 2, out + err
    assert expect in err, err
    assert "Nothing was changed" in err or "nothing was changed" in err
    assert state(repo) == before
    return err


def test_untracked_file_where_services_dir_goes(sample_repo: Path, run, state) -> None:
    (sample_repo / "services").write_text("my notes, not a directory\n")
    refused(run, state, sample_repo, "add", "redis", "--commit", expect="services: a file where")
    assert (sample_repo / "services").read_text() == "my notes, not a directory\n"


def test_untracked_symlink_where_services_dir_goes(sample_repo: Path, tmp_path: Path, run, state) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep\n")
    (sample_repo / "services").symlink_to(elsewhere)
    refused(run, state, sample_repo, "add", "redis", "--commit", expect="services: a symbolic link")
    assert os.readlink(sample_repo / "services") == str(elsewhere)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]  # nothing written through it


def test_untracked_file_at_a_path_the_change_adds(sample_repo: Path, run, state) -> None:
    (sample_repo / "services").mkdir()
    (sample_repo / "services" / "cache.py").write_text("# my own cache, not committed\n")
    refused(run, state, sample_repo, "add", "redis", "--commit", expect="services/cache.py (untracked)")


def test_ignored_file_at_a_path_the_change_adds(sample_repo: Path, run, state) -> None:
    (sample_repo / ".gitignore").write_text("services/\n")
    git(sample_repo, "add", ".gitignore")
    git(sample_repo, "commit", "-qm", "ignore services")
    (sample_repo / "services").mkdir()
    (sample_repo / "services" / "cache.py").write_text("# generated locally, ignored\n")
    refused(run, state, sample_repo, "add", "redis", "--commit", expect="services/cache.py (ignored")
    assert (sample_repo / "services" / "cache.py").read_text() == "# generated locally, ignored\n"


def test_symlink_to_an_empty_directory_is_in_the_way(sample_repo: Path, tmp_path: Path, run, state) -> None:
    """git status does not show a symlink inside an untracked directory it does not descend."""
    (tmp_path / "empty").mkdir()
    (sample_repo / "services").mkdir()
    (sample_repo / "services" / "cache.py").symlink_to(tmp_path / "empty")
    refused(run, state, sample_repo, "add", "redis", "--commit", expect="services/cache.py")


@pytest.mark.parametrize("output", [["--commit"], ["--branch", "x"], ["-o", "patches"], ["--stdout"]])
@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_tracked_file_where_services_dir_goes(sample_repo: Path, run, state, output: list[str], kind: str) -> None:
    if kind == "file":
        (sample_repo / "services").write_text("tracked notes\n")
    else:
        (sample_repo / "services").symlink_to("settings.py")
    git(sample_repo, "add", "services")
    git(sample_repo, "commit", "-qm", "a file named services")
    err = refused(run, state, sample_repo, "add", "redis", *output,
                  expect=f"services is a {'file' if kind == 'file' else 'symbolic link'} in your last commit")
    # a file: the services directory cannot go there; a symlink: nothing is written
    # through a link, whatever it points at
    assert ("services/cache.py needs a directory" if kind == "file" else "Make it a real directory") in err
    assert git(sample_repo, "ls-tree", "--name-only", "HEAD", "services") == "services\n"


def _installed_and_ejected(repo: Path, run) -> Path:
    assert run(repo, "add", "redis", "--commit")[0] == 0
    cache = repo / "services" / "cache.py"
    cache.write_text(cache.read_text() + "\n# my edit, mine to keep\n")
    git(repo, "commit", "-qam", "edit the cache module")
    code, _out, err = run(repo, "eject", "redis", "services/cache.py")
    assert code == 0, err
    return cache


def test_remove_leaves_an_ejected_file_alone(sample_repo: Path, run) -> None:
    cache = _installed_and_ejected(sample_repo, run)
    edited = cache.read_bytes()
    code, out, err = run(sample_repo, "remove", "redis", "--commit")
    assert code == 0, err
    assert cache.read_bytes() == edited
    assert git(sample_repo, "show", "HEAD:services/cache.py").encode() == edited
    assert "services/cache.py was ejected" in out and "left it as it is" in out
    assert not (sample_repo / "paxx-patch.lock").exists()  # the rest of redis is gone
    assert "REDIS_URL" not in (sample_repo / ".env.example").read_text()
    assert git(sample_repo, "status", "--porcelain") == ""


def test_update_leaves_an_ejected_file_alone(sample_repo: Path, tmp_path: Path, run) -> None:
    cache = _installed_and_ejected(sample_repo, run)
    edited = cache.read_bytes()
    newer = newer_bundles(tmp_path / "newer")
    code, out, err = run(sample_repo, "update", "redis", "--commit", "--bundle-path", str(newer))
    assert code == 0, err
    assert cache.read_bytes() == edited
    assert "services/cache.py was ejected" in out
    assert f'version = "{REDIS_NEWER}"' in (sample_repo / "paxx-patch.lock").read_text()
    assert git(sample_repo, "status", "--porcelain") == ""


def _conflicting_branch(repo: Path) -> None:
    """`main` and `other` both change notes.txt from a common commit."""
    (repo / "notes.txt").write_text("base\n")
    git(repo, "add", "notes.txt")
    git(repo, "commit", "-qm", "notes")
    git(repo, "checkout", "-qb", "other")
    (repo / "notes.txt").write_text("theirs\n")
    git(repo, "commit", "-qam", "theirs")
    git(repo, "checkout", "-q", "main")
    (repo / "notes.txt").write_text("ours\n")
    git(repo, "commit", "-qam", "ours")


IN_PROGRESS = {
    "rebase": (["rebase", "other"], "a rebase is in progress", "rebase-merge"),
    "am": (["am", "-3", "PATCH"], "a rebase or `git am` is in progress", "rebase-apply"),
    "merge": (["merge", "other"], "a merge is in progress", "MERGE_HEAD"),
    "cherry-pick": (["cherry-pick", "other"], "a cherry-pick is in progress", "CHERRY_PICK_HEAD"),
    "revert": (["revert", "--no-edit", "HEAD"], "a revert is in progress", "REVERT_HEAD"),
    "bisect": (["bisect", "start"], "a bisect is in progress", "BISECT_LOG"),
}


@pytest.mark.parametrize("operation", sorted(IN_PROGRESS))
def test_commit_refused_while_an_operation_is_in_progress(
    sample_repo: Path, tmp_path: Path, run, state, operation: str
) -> None:
    _conflicting_branch(sample_repo)
    argv, message, marker = IN_PROGRESS[operation]
    if operation == "revert":  # undo "ours" after a later commit changed the same line
        (sample_repo / "notes.txt").write_text("later\n")
        git(sample_repo, "commit", "-qam", "later")
        argv = ["revert", "--no-edit", "HEAD~1"]
    if operation == "am":
        patch = git(sample_repo, "format-patch", "-1", "--stdout", "other")
        (tmp_path / "p.patch").write_text(patch)
        argv = ["am", "-3", str(tmp_path / "p.patch")]
    git(sample_repo, "-c", "user.name=T", "-c", "user.email=t@e.x", *argv, check=False)
    assert (sample_repo / ".git" / marker).exists()
    err = refused(run, state, sample_repo, "add", "redis", "--commit", expect=message)
    assert "--branch NAME" in err and marker in err
    code, _out, err = run(sample_repo, "add", "redis", "--branch", "with-redis")  # the way out
    assert code == 0, err


def test_failing_post_checkout_hook_is_a_warning(sample_repo: Path, run) -> None:
    hooks = sample_repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    hook = hooks / "post-checkout"
    hook.write_text(f"#!/bin/sh\necho \"$@\" > {sample_repo / '.git' / 'hook-args'}\nexit 1\n")
    hook.chmod(0o755)
    base = git(sample_repo, "rev-parse", "HEAD").strip()
    code, out, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0, err
    assert "warning: the post-checkout hook exited 1; the change landed." in out
    tip = git(sample_repo, "rev-parse", "HEAD").strip()
    assert (sample_repo / ".git" / "hook-args").read_text().split() == [base, tip, "1"]
    assert git(sample_repo, "rev-list", "--count", f"{base}..HEAD") == f"{REDIS_COMMITS}\n"
    assert git(sample_repo, "status", "--porcelain") == ""


def test_landing_keeps_unrelated_staged_and_unstaged_work(sample_repo: Path, run) -> None:
    """Only the touched paths move: the user's other staged and unstaged changes stay."""
    (sample_repo / "NOTES.md").write_text("notes\n")
    git(sample_repo, "add", "NOTES.md")
    git(sample_repo, "commit", "-qm", "notes")
    (sample_repo / "NOTES.md").write_text("notes\n# staged\n")
    git(sample_repo, "add", "NOTES.md")
    (sample_repo / "Dockerfile").write_text((sample_repo / "Dockerfile").read_text() + "# unstaged\n")
    (sample_repo / "scratch.txt").write_text("untracked\n")
    code, _out, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0, err
    status = git(sample_repo, "status", "--porcelain").splitlines()
    assert sorted(status) == sorted(["  M Dockerfile"[1:], "M  NOTES.md", "?? scratch.txt"])
    assert git(sample_repo, "diff", "--cached", "--name-only") == "NOTES.md\n"
    assert git(sample_repo, "fsck", "--strict", "--no-dangling") == ""


def test_commit_works_in_a_linked_worktree(sample_repo: Path, tmp_path: Path, run) -> None:
    """A linked worktree has its own index and lock under .git/worktrees/NAME."""
    linked = tmp_path / "linked"
    git(sample_repo, "worktree", "add", "-q", "-b", "side", str(linked))
    code, _out, err = run(linked, "add", "redis", "--commit")
    assert code == 0, err
    assert git(linked, "status", "--porcelain") == ""
    assert git(sample_repo, "status", "--porcelain") == ""
    assert git(sample_repo, "rev-parse", "main") == git(sample_repo, "rev-parse", f"side~{REDIS_COMMITS}")
    assert not (sample_repo / "services").exists()
    shutil.rmtree(linked)


def test_commit_in_a_sha256_repository(tmp_path: Path, run) -> None:
    from tests.conftest import SAMPLE

    repo = tmp_path / "repo"
    shutil.copytree(SAMPLE, repo, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    git(repo, "init", "-q", "--template=", "-b", "main", "--object-format=sha256")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=T", "-c", "user.email=t@e.x", "commit", "-qm", "initial")
    git(repo, "config", "user.name", "T")
    git(repo, "config", "user.email", "t@e.x")
    code, _out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, err
    assert len(git(repo, "rev-parse", "HEAD").strip()) == 64
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "ls-files", "services") == "services/__init__.py\nservices/cache.py\n"
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
