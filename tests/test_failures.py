"""One rule for failures: git failing is reported as git failing, the environment
and the input as what they are (exit 2, cause and fix), exit 3 only for bugs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git


def _refused(code: int, out: str, err: str) -> None:
    assert code == 2, (out, err)
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.count("\n") == 1, err  # one paragraph


@pytest.mark.parametrize("argv", [["add", "storage", "--commit"], ["status"], ["remove", "redis"],
                                  ["update", "--dry-run"], ["detect"], ["eject", "redis"]])
def test_git_off_path_is_exit_2_naming_git(
    sample_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run, state, argv: list[str]
) -> None:
    before = state(sample_repo)
    (tmp_path / "no-git").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "no-git"))
    code, out, err = run(sample_repo, *argv)
    _refused(code, out, err)
    assert "git could not be run (`git rev-parse --show-toplevel`: No such file or directory)" in err
    assert "install it or put it on PATH" in err
    monkeypatch.undo()
    assert state(sample_repo) == before


def test_a_broken_head_is_git_failing(sample_repo: Path, run) -> None:
    (sample_repo / ".git" / "HEAD").write_text("garbage\n")
    code, out, err = run(sample_repo, "add", "redis", "--commit")
    _refused(code, out, err)
    assert "(`git rev-parse` failed: fatal: not a git repository" in err


def test_a_project_path_too_long_for_the_file_system(sample_repo: Path, run, state) -> None:
    before = state(sample_repo)
    code, out, err = run(sample_repo, "add", "redis", "--dry-run", "--project", "a" * 10_000)
    _refused(code, out, err)
    assert "File name too long" in err and "give a shorter path" in err
    assert len(err) < 600  # the name is shortened, not printed whole
    assert state(sample_repo) == before


def test_add_honours_git_dir_as_verify_does(
    sample_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("GIT_DIR", str(sample_repo / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(sample_repo))
    code, out, err = run(elsewhere, "add", "redis", "--commit", "--no-lock", "-q")
    assert code == 0, (out, err)
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_WORK_TREE")
    assert "paxx(redis)" in git(sample_repo, "log", "-1", "--format=%s")
    assert git(sample_repo, "status", "--porcelain") == ""
    assert list(elsewhere.iterdir()) == []


def test_git_dir_naming_nowhere_is_refused_by_add_as_by_verify(
    sample_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run, state
) -> None:
    before = state(sample_repo)
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    code, out, err = run(sample_repo, "eject", "redis")
    _refused(code, out, err)
    assert f"(GIT_DIR={tmp_path / 'nowhere'}) is not inside a git repository git can read" in err
    monkeypatch.delenv("GIT_DIR")
    assert state(sample_repo) == before
