"""Nothing is left in .git: a refusal leaves the git directory byte for byte as it was,
objects and ref directories included; a success leaves what it delivers and no more."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DOCSTRING, git
from tests.test_update_remove import edit, installed


def git_dir_bytes(repo: Path) -> dict[str, str]:
    """Every file (by digest) and directory under .git, objects and refs included."""
    found = {}
    for path in sorted((repo / ".git").rglob("*")):
        rel = path.relative_to(repo).as_posix()
        found[rel] = "directory" if path.is_dir() else hashlib.sha1(path.read_bytes()).hexdigest()
    return found


def loose_and_packed(repo: Path) -> set[str]:
    return {p.relative_to(repo).as_posix() for p in (repo / ".git" / "objects").rglob("*")}


def refused(run, repo: Path, *argv: str) -> str:
    before = git_dir_bytes(repo)
    code, out, err = run(repo, *argv)
    assert code == 2, (out, err)
    assert "Nothing was changed" in err
    after = git_dir_bytes(repo)
    assert after == before, sorted(set(after.items()) ^ set(before.items()))[:6]
    return err


def test_a_branch_that_exists_is_refused_before_anything_is_written(sample_repo: Path, run) -> None:
    git(sample_repo, "branch", "taken")
    assert "already exists" in refused(run, sample_repo, "add", "redis", "--branch", "taken")


@pytest.mark.parametrize("name", ["@", "HEAD", "-x", "a..b", "x.lock"])
def test_names_git_would_not_take_for_a_branch(sample_repo: Path, run, name: str) -> None:
    err = refused(run, sample_repo, "add", "redis", f"--branch={name}")
    assert "not a valid branch name" in err
    assert git(sample_repo, "for-each-ref", "refs/heads/").count("\n") == 1


def test_uncommitted_changes_in_the_way_leave_no_object(sample_repo: Path, run) -> None:
    """This refusal comes after the commits are built (while landing): they were never
    published from the run's quarantine."""
    compose = sample_repo / "docker-compose.yml"
    compose.write_text(compose.read_text() + "# mine\n")
    assert "uncommitted changes" in refused(run, sample_repo, "add", "redis", "--commit")


def test_a_directory_holding_patches_is_refused(sample_repo: Path, run) -> None:
    (sample_repo / "out").mkdir()
    (sample_repo / "out" / "0001-old.patch").write_text("old\n")
    assert "already holds .patch files" in refused(run, sample_repo, "add", "redis", "-o", "out")


def test_a_patch_series_keeps_nothing_in_the_repository(sample_repo: Path, tmp_path: Path, run) -> None:
    """The series carries every new blob itself; `git am -3` needs only the base's."""
    before = git_dir_bytes(sample_repo)
    code, _out, err = run(sample_repo, "add", "redis", "-o", str(tmp_path / "series"))
    assert code == 0, err
    assert git_dir_bytes(sample_repo) == before
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(sample_repo), str(other))
    patches = sorted(str(p) for p in (tmp_path / "series").glob("*.patch"))
    git(other, "-c", "user.name=U", "-c", "user.email=u@e", "am", "-q", "-3", *patches)
    assert (other / "services" / "cache.py").exists()


def test_a_new_branch_leaves_its_objects_and_no_temporary_ref(sample_repo: Path, run) -> None:
    before = loose_and_packed(sample_repo)
    code, _out, err = run(sample_repo, "add", "redis", "--branch", "cache")
    assert code == 0, err
    added = loose_and_packed(sample_repo) - before
    assert added and not any("incoming" in p for p in added)
    assert not (sample_repo / ".git" / "refs" / "paxx-patch").exists()
    git(sample_repo, "fsck", "--strict", "--no-dangling", "cache")
    assert git(sample_repo, "rev-list", "--count", "main..cache") == "7\n"


def test_a_killed_runs_quarantine_goes_with_the_next_run(sample_repo: Path) -> None:
    env = {**os.environ, "PAXX_PATCH_TEST_KILL_AT": "built"}
    argv = [sys.executable, "-m", "paxx_patch", "add", "redis", "--commit"]
    assert subprocess.run(argv, cwd=sample_repo, env=env, capture_output=True).returncode == -9
    objects = sample_repo / ".git" / "objects"
    assert [p.name for p in objects.glob("incoming-paxx-patch-*")]  # the dead run's, unpublished
    proc = subprocess.run(argv, cwd=sample_repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert list(objects.glob("incoming-paxx-patch-*")) == []
    git(sample_repo, "fsck", "--strict", "--no-dangling")


def test_an_empty_ref_directory_of_an_earlier_version_is_taken_away(sample_repo: Path, run) -> None:
    (sample_repo / ".git" / "refs" / "paxx-patch" / "run").mkdir(parents=True)
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    assert not (sample_repo / ".git" / "refs" / "paxx-patch").exists()


def test_remove_after_the_user_deleted_a_generated_file_leaves_no_auto_merge(
    sample_repo: Path, run
) -> None:
    installed(sample_repo, run)
    git(sample_repo, "rm", "-q", "services/cache.py")
    git(sample_repo, "commit", "-qm", "no cache module")
    code, _out, err = run(sample_repo, "remove", "redis", "--commit")
    assert code == 0, err
    assert not (sample_repo / ".git" / "AUTO_MERGE").exists()
    assert git(sample_repo, "status", "--porcelain") == ""


def pristine_refs(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/paxx-patch/").split()


def conflicting_update(repo: Path, newer: Path, run) -> None:
    cache = installed(repo, run)
    edit(cache, DOCSTRING, '"""Mine: the cached value."""', repo)
    assert run(repo, "update", "redis", "--commit", "--bundle-path", str(newer))[0] == 1


def test_an_aborted_update_drops_its_pristine_files_at_the_next_run(
    sample_repo: Path, newer: Path, run
) -> None:
    conflicting_update(sample_repo, newer, run)
    assert [r.split("/")[2] for r in pristine_refs(sample_repo)] == ["pending"]
    git(sample_repo, "cherry-pick", "--abort")
    assert run(sample_repo, "status")[0] == 0
    assert pristine_refs(sample_repo) == []
    git(sample_repo, "fsck", "--strict")


def test_a_continued_update_keeps_its_pristine_files(sample_repo: Path, newer: Path, run) -> None:
    from paxx_patch.manifest import parse_lock

    conflicting_update(sample_repo, newer, run)
    cache = sample_repo / "services" / "cache.py"
    text = cache.read_text()
    start, end = text.index("<<<<<<<"), text.index("\n", text.index(">>>>>>>")) + 1
    cache.write_text(text[:start] + '    """Mine, merged."""\n' + text[end:])
    git(sample_repo, "add", "services/cache.py")
    git(sample_repo, "-c", "core.editor=true", "cherry-pick", "--continue")
    assert run(sample_repo, "status")[0] == 0
    (ref,) = pristine_refs(sample_repo)
    assert ref.startswith("refs/paxx-patch/pristine/")
    lock = parse_lock((sample_repo / "paxx-patch.lock").read_text())
    pristine = lock.components["redis"].files["services/cache.py"]
    assert pristine in git(sample_repo, "ls-tree", "-r", ref)
