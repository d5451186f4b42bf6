"""Bad input: exit 2, a message naming the file and the fix, and no change at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, git, init_repo


def assert_refused(run, state, repo: Path, *argv: str, expect: str) -> str:
    before = state(repo)
    worktrees = git(repo, "worktree", "list") if (repo / ".git").exists() else ""
    code, out, err = run(repo, *argv)
    assert code == 2, (out, err)
    assert expect in err, err
    assert "Traceback" not in err
    assert state(repo) == before
    if worktrees:
        assert git(repo, "worktree", "list") == worktrees
    return err


def commit_edit(repo: Path, name: str, text: str) -> None:
    (repo / name).write_text(text)
    git(repo, "commit", "-qam", f"edit {name}")


def test_malformed_pyproject(sample_repo: Path, run, state) -> None:
    commit_edit(sample_repo, "pyproject.toml", '[project]\nname = "shop\n')
    err = assert_refused(run, state, sample_repo, "add", "redis", "--commit", expect="pyproject.toml")
    assert "line 2" in err and "Fix" in err


def test_malformed_compose(sample_repo: Path, run, state) -> None:
    text = (sample_repo / "docker-compose.yml").read_text()
    commit_edit(sample_repo, "docker-compose.yml", text.replace("  db:\n", "  db:\n   bad: [\n", 1))
    err = assert_refused(run, state, sample_repo, "add", "redis", "--commit", expect="docker-compose.yml:")
    assert "not valid YAML" in err


def test_settings_syntax_error(sample_repo: Path, run, state) -> None:
    text = (sample_repo / "settings.py").read_text()
    commit_edit(sample_repo, "settings.py", text.replace("db_pool_size: int = 5", "db_pool_size: int = (5"))
    assert_refused(run, state, sample_repo, "add", "redis", "--commit", expect="settings.py:")



@pytest.mark.skipif(sys.version_info >= (3, 13), reason="the syntax parses from Python 3.13 on")
def test_syntax_of_a_newer_python_names_the_python_to_run_with(sample_repo: Path, run, state) -> None:
    # Shape seen in a clean-architecture example app written for Python 3.13: a type
    # parameter default (PEP 696), which Python 3.11 cannot parse
    text = (sample_repo / "settings.py").read_text()
    commit_edit(sample_repo, "settings.py", text + "\n\ndef first[T = int](items: list[T]) -> T:\n    return items[0]\n")
    err = assert_refused(run, state, sample_repo, "add", "redis", "--commit", expect="settings.py:")
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert f"newer than {running}" in err and "run paxx-patch with that Python" in err


def test_no_settings_class_is_no_refusal(sample_repo: Path, run) -> None:
    """A default serves: the components get a settings module of their own (tests/test_own_settings.py)."""
    commit_edit(sample_repo, "settings.py", "DEBUG = True\n")
    code, out, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0, err
    assert "no pydantic-settings class" in out and "[tool.paxx-patch] settings" in out
    assert (sample_repo / "services" / "settings.py").exists()


def test_unknown_component_lists_known_ones(sample_repo: Path, run, state) -> None:
    err = assert_refused(run, state, sample_repo, "add", "kafka", "--commit", expect="unknown component 'kafka'")
    assert "redis" in err


def test_not_a_git_repository(tmp_path: Path, run, state) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "settings.py").write_text("x = 1\n")
    assert_refused(run, state, plain, "add", "redis", "--commit", expect="not inside a git repository")


def test_repository_without_commits(tmp_path: Path, run, state) -> None:
    repo = init_repo(tmp_path / "empty")
    assert_refused(run, state, repo, "add", "redis", "--commit", expect="has no commits yet")


def test_touched_file_with_uncommitted_changes(sample_repo: Path, run, state) -> None:
    (sample_repo / "pyproject.toml").write_text((sample_repo / "pyproject.toml").read_text() + "# wip\n")
    (sample_repo / "notes.txt").write_text("untouched by redis\n")
    err = assert_refused(run, state, sample_repo, "add", "redis", "--commit", expect="uncommitted changes")
    assert "pyproject.toml" in err and "notes.txt" not in err


def test_untracked_file_in_the_way(sample_repo: Path, run, state) -> None:
    (sample_repo / "services").mkdir()
    (sample_repo / "services" / "cache.py").write_text("# mine\n")
    assert_refused(run, state, sample_repo, "add", "redis", "--commit", expect="services/cache.py")


def test_uncommitted_changes_elsewhere_are_fine(sample_repo: Path, run) -> None:
    # (redis wires close_redis() into main.py, so the edit is in a file it leaves alone)
    (sample_repo / "Dockerfile").write_text((sample_repo / "Dockerfile").read_text() + "# wip\n")
    code, _out, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0, err
    assert (sample_repo / "Dockerfile").read_text().endswith("# wip\n")
    assert git(sample_repo, "status", "--porcelain") == " M Dockerfile\n"


def test_no_identity_under_commit(tmp_path: Path, run, state) -> None:
    repo = init_repo(tmp_path / "anon", ROOT / "paxx_patch" / "sample", identity=False)
    err = assert_refused(run, state, repo, "add", "redis", "--commit", expect="no identity")
    assert "git config user.name" in err


def test_bundle_with_a_bad_key(sample_repo: Path, tmp_path: Path, run, state) -> None:
    bundle = tmp_path / "bundles" / "redis"
    bundle.mkdir(parents=True)
    (bundle / "bundle.toml").write_text('name = "redis"\nversion = "one"\ndescription = "x"\n')
    err = assert_refused(run, state, sample_repo, "add", "redis", "--commit",
                         "--bundle-path", str(tmp_path / "bundles"), expect="bundle.toml")
    assert "`version`" in err


def test_file_already_there_not_from_paxx(sample_repo: Path, run, state) -> None:
    (sample_repo / "services").mkdir()
    (sample_repo / "services" / "cache.py").write_text("# my cache\n")
    git(sample_repo, "add", "-A")
    git(sample_repo, "commit", "-qm", "own cache")
    assert_refused(run, state, sample_repo, "add", "redis", "--branch", "x", expect="services/cache.py already exists")


def test_bad_set_value(sample_repo: Path, run, state) -> None:
    assert_refused(run, state, sample_repo, "add", "redis", "--set", "nope=1", expect="--set nope")


@pytest.mark.parametrize("step", ["planned", "built"])
def test_sigkill_mid_run_leaves_repository_as_it_was(sample_repo: Path, state, step: str) -> None:
    before = state(sample_repo)
    env = {**os.environ, "PAXX_PATCH_TEST_KILL_AT": step}
    proc = subprocess.run([sys.executable, "-m", "paxx_patch", "add", "redis", "--commit"],
                          cwd=sample_repo, env=env, capture_output=True)
    assert proc.returncode == -9
    after = state(sample_repo)
    after.pop(".git/paxx-patch.running", None)  # the dead run's marker; the next run takes it over
    assert after == before
    assert git(sample_repo, "worktree", "list").count("\n") == 1
    # the next run cleans up the dead run's refs and succeeds
    proc = subprocess.run([sys.executable, "-m", "paxx_patch", "add", "redis", "--commit"],
                          cwd=sample_repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert git(sample_repo, "for-each-ref", "refs/paxx-patch/") == ""


def test_stale_run_marker_is_taken_over(sample_repo: Path, run) -> None:
    (sample_repo / ".git" / "paxx-patch.running").write_text("999999999")
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0


def test_concurrent_run_fails_cleanly(sample_repo: Path, run, state) -> None:
    (sample_repo / ".git" / "paxx-patch.running").write_text(str(os.getppid()))
    before = state(sample_repo)
    code, _out, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 2 and "another paxx-patch" in err
    assert state(sample_repo) == before


def test_ctrl_c_mid_run_exits_130_and_cleans_up(sample_repo: Path, state) -> None:
    before = state(sample_repo)
    env = {**os.environ, "PAXX_PATCH_TEST_KILL_AT": "built:SIGINT"}
    proc = subprocess.run([sys.executable, "-m", "paxx_patch", "add", "redis", "--commit"],
                          cwd=sample_repo, env=env, capture_output=True, text=True)
    assert proc.returncode == 130, proc.stderr
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr
    assert state(sample_repo) == before
    assert git(sample_repo, "for-each-ref", "refs/paxx-patch/") == ""
    assert not (sample_repo / ".git" / "paxx-patch.running").exists()
