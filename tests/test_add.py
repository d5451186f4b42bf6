"""`paxx-patch add` on the paxx-shaped sample: commits, series, branch, dry run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REDIS_REQUIREMENT, REDIS_VERSION, SAMPLE, git, init_repo

SHARED = ["docker-compose.yml", "pyproject.toml", "settings.py", ".env.example"]
MUTATOR_ORDER = ["files", "compose", "dependencies", "settings", "env", "wiring", "lock"]


def trailers(repo: Path, rev: str) -> dict[str, str]:
    out = git(repo, "log", "-1", "--format=%(trailers:only,unfold)", rev)
    return dict(line.split(": ", 1) for line in out.splitlines() if line)


def test_add_commit_makes_one_commit_per_mutator(sample_repo: Path, run) -> None:
    base = git(sample_repo, "rev-parse", "HEAD").strip()
    code, _out, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0, err
    revs = git(sample_repo, "rev-list", "--reverse", f"{base}..HEAD").split()
    mutators = [trailers(sample_repo, r)["Paxx-Mutator"] for r in revs]
    assert mutators == MUTATOR_ORDER
    for rev in revs:
        t = trailers(sample_repo, rev)
        assert t["Paxx-Component"] == "redis" and t["Paxx-Version"] == REDIS_VERSION
    subjects = git(sample_repo, "log", "--format=%s", f"{base}..HEAD").splitlines()
    assert "paxx(redis): add services/__init__.py, services/cache.py" in subjects
    assert "paxx(redis): wire redis into main.py" in subjects
    assert "    # shutdown\n    await close_redis()\n" in (sample_repo / "main.py").read_text()
    assert git(sample_repo, "status", "--porcelain") == ""
    assert git(sample_repo, "log", "-1", "--format=%an <%ae>") == "Test User <test@example.com>\n"


def test_shared_files_only_gain_lines(sample_repo: Path, run) -> None:
    base = git(sample_repo, "rev-parse", "HEAD").strip()
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    numstat = git(sample_repo, "diff", "--numstat", base, "HEAD", "--", *SHARED)
    rows = [line.split("\t") for line in numstat.splitlines()]
    assert sorted(r[2] for r in rows) == sorted(SHARED)
    assert all(int(r[0]) > 0 and r[1] == "0" for r in rows), numstat


def test_compose_validates_with_docker_compose(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    proc = subprocess.run(["docker-compose", "config", "-q"], cwd=sample_repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = (sample_repo / "docker-compose.yml").read_text()
    assert '"127.0.0.1:6379:6379"' in text and "redis-cli" in text


def test_settings_field_reads_environment(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    env = {**os.environ, "REDIS_URL": "redis://cache.internal:6380/3"}
    proc = subprocess.run(
        [sys.executable, "-c", "from settings import settings; print(settings.redis_url)"],
        cwd=sample_repo, env=env, capture_output=True, text=True,
    )
    assert proc.stdout.strip() == "redis://cache.internal:6380/3", proc.stderr


def test_generated_cache_works_against_redis(sample_repo: Path, run, redis_url: str) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    script = """
import asyncio
from services.cache import cache_get, cache_set, cache_delete, get_redis, close_redis

async def main():
    await cache_set("user:1", {"name": "Ada", "tags": [1, 2]}, expire=60)
    assert await cache_get("user:1") == {"name": "Ada", "tags": [1, 2]}
    client = await get_redis()
    assert 0 < await client.ttl("user:1") <= 60
    assert await client.incr("views") == 1
    assert await cache_delete("user:1") is True
    assert await cache_get("user:1") is None
    await close_redis()
    print("ok")

asyncio.run(main())
"""
    env = {**os.environ, "REDIS_URL": redis_url}
    proc = subprocess.run([sys.executable, "-c", script], cwd=sample_repo, env=env,
                          capture_output=True, text=True)
    assert proc.stdout.strip() == "ok", proc.stderr
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "services/cache.py"],
                          cwd=sample_repo, capture_output=True, text=True)
    assert ruff.returncode == 0, ruff.stdout


def test_second_add_is_a_no_op_and_keeps_user_edits(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    cache = sample_repo / "services" / "cache.py"
    cache.write_text(cache.read_text() + "\n# my own tweak\n")
    git(sample_repo, "commit", "-qam", "tweak cache")
    head = git(sample_repo, "rev-parse", "HEAD")
    code, out, _err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0
    assert "already installed" in out
    assert git(sample_repo, "rev-parse", "HEAD") == head
    assert cache.read_text().endswith("# my own tweak\n")


def test_patch_series_applies_with_git_am_like_commit(sample_repo: Path, tmp_path: Path, run) -> None:
    base = git(sample_repo, "rev-parse", "HEAD").strip()
    patches = tmp_path / "patches"
    code, _out, err = run(sample_repo, "add", "redis", "-o", str(patches))
    assert code == 0, err
    assert git(sample_repo, "rev-parse", "HEAD").strip() == base
    files = sorted(patches.glob("*.patch"))
    assert len(files) == len(MUTATOR_ORDER) and files[0].name.startswith("0001-")
    assert all("\nindex " in f.read_text() for f in files)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(sample_repo), str(clone))
    git(clone, "config", "user.name", "Other")
    git(clone, "config", "user.email", "other@example.com")
    git(clone, "am", "-3", "-q", *map(str, files))
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    assert git(clone, "rev-parse", "HEAD^{tree}") == git(sample_repo, "rev-parse", "HEAD^{tree}")


def test_git_am_conflict_on_users_edit_then_abort(sample_repo: Path, tmp_path: Path, run) -> None:
    patches = tmp_path / "patches"
    assert run(sample_repo, "add", "redis", "-o", str(patches))[0] == 0
    pyproject = sample_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        '    "pydantic-settings>=2.0",  # settings from the environment\n]',
        '    "pydantic-settings>=2.0",  # settings from the environment\n    "httpx>=0.27",\n]',
    ))
    git(sample_repo, "commit", "-qam", "add httpx")
    head = git(sample_repo, "rev-parse", "HEAD")
    proc = subprocess.run(["git", "am", "-3", *map(str, sorted(patches.glob("*.patch")))],
                          cwd=sample_repo, capture_output=True, text=True)
    assert proc.returncode != 0
    unmerged = git(sample_repo, "diff", "--name-only", "--diff-filter=U")
    assert unmerged.split() == ["pyproject.toml"]
    git(sample_repo, "am", "--abort")
    assert git(sample_repo, "rev-parse", "HEAD") == head
    assert git(sample_repo, "status", "--porcelain") == ""


def test_branch_leaves_checkout_alone(sample_repo: Path, run, state) -> None:
    before = state(sample_repo)
    head = git(sample_repo, "rev-parse", "HEAD").strip()
    code, _out, err = run(sample_repo, "add", "redis", "--branch", "add-redis")
    assert code == 0, err
    after = state(sample_repo)
    after.pop(".git/refs/heads/add-redis")
    after.pop(".git/logs/refs/heads/add-redis", None)
    assert after == before
    assert git(sample_repo, "rev-parse", f"add-redis~{len(MUTATOR_ORDER)}").strip() == head
    assert git(sample_repo, "branch", "--show-current").strip() == "main"


def test_dry_run_prints_diff_and_writes_nothing(sample_repo: Path, run) -> None:
    def everything() -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in sorted(sample_repo.rglob("*")) if p.is_file()}

    before = everything()
    code, out, err = run(sample_repo, "add", "redis", "--dry-run")
    assert code == 0, err
    assert "+++ b/services/cache.py" in out and f'+    "{REDIS_REQUIREMENT}",' in out
    assert everything() == before


def test_stdout_mbox_applies(sample_repo: Path, tmp_path: Path, run) -> None:
    code, out, err = run(sample_repo, "add", "redis", "--stdout")
    assert code == 0, err
    assert out.count("\nSubject: [PATCH ") == len(MUTATOR_ORDER)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(sample_repo), str(clone))
    proc = subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@b.c", "am", "-3"],
                          cwd=clone, input=out, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (clone / "services" / "cache.py").is_file()


def test_commit_refuses_when_head_moves_during_run(sample_repo: Path, tmp_path: Path) -> None:
    """The branch moves only if it still points at the base (compare-and-swap)."""
    from paxx_patch.git import land
    from paxx_patch.git.repo import discover

    g = discover(sample_repo)
    base = g.head()
    assert base is not None
    (sample_repo / "notes.txt").write_text("x\n")
    git(sample_repo, "add", "notes.txt")
    git(sample_repo, "commit", "-qm", "meanwhile")
    moved = g.head()
    with pytest.raises(Exception, match="moved while paxx-patch was working"):
        land.land_on_head(g, base, base, [])
    assert g.head() == moved


def test_sample_project_in_subdirectory_with_project_option(tmp_path: Path, run) -> None:
    repo = tmp_path / "mono"
    shutil.copytree(SAMPLE, repo / "backend", ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    init_repo(repo, {"README.md": "monorepo\n"})
    code, _out, err = run(repo, "add", "redis", "--commit", "--project", "backend")
    assert code == 0, err
    assert (repo / "backend" / "services" / "cache.py").is_file()
    assert "redis_url" in (repo / "backend" / "settings.py").read_text()
    assert '"services/cache.py"' in (repo / "backend" / "paxx-patch.lock").read_text()
    assert git(repo, "status", "--porcelain") == ""


def test_inherited_git_variables_are_ignored(sample_repo: Path, tmp_path: Path, run, monkeypatch) -> None:
    """Inside a git hook GIT_INDEX_FILE and GIT_DIR leak in: GIT_DIR names the repository
    (honoured, as git and verify do), GIT_INDEX_FILE must not steer paxx-patch."""
    decoy = init_repo(tmp_path / "decoy", {"x.txt": "x\n"})
    monkeypatch.setenv("GIT_DIR", str(sample_repo / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "bogus-index"))
    code, _out, err = run(sample_repo, "add", "redis", "--commit")
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_INDEX_FILE")
    assert code == 0, err
    assert not (tmp_path / "bogus-index").exists()
    assert git(decoy, "log", "--format=%s") == "initial\n"
    assert git(sample_repo, "status", "--porcelain") == ""
    assert (sample_repo / "services" / "cache.py").is_file()


def test_version_and_module_entry_point(sample_repo: Path) -> None:
    from paxx_patch import __version__

    proc = subprocess.run([sys.executable, "-m", "paxx_patch", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"paxx-patch {__version__}"


def test_running_inside_a_sub_project_picks_it(tmp_path: Path, run) -> None:
    repo = tmp_path / "mono"
    shutil.copytree(SAMPLE, repo / "backend", ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    init_repo(repo, {"README.md": "monorepo\n"})
    code, _out, err = run(repo / "backend", "add", "redis", "--commit")
    assert code == 0, err
    assert (repo / "backend" / "services" / "cache.py").is_file()
    assert (repo / "backend" / "paxx-patch.lock").is_file() and not (repo / "paxx-patch.lock").exists()


def test_closed_pipe_is_not_an_internal_error(sample_repo: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "paxx_patch", "add", "redis", "--stdout"],
                            cwd=sample_repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written, like `| true`
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "internal error" not in err and "Traceback" not in err


def test_commit_on_a_detached_head(sample_repo: Path, run) -> None:
    git(sample_repo, "checkout", "-q", "--detach")
    base = git(sample_repo, "rev-parse", "HEAD").strip()
    code, _out, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0, err
    assert git(sample_repo, "rev-parse", f"HEAD~{len(MUTATOR_ORDER)}").strip() == base
    assert git(sample_repo, "rev-parse", "main").strip() == base  # the branch stays put
    assert git(sample_repo, "status", "--porcelain") == ""


def test_branch_that_exists_is_refused(sample_repo: Path, run, state) -> None:
    git(sample_repo, "branch", "taken")
    before = state(sample_repo)
    code, _out, err = run(sample_repo, "add", "redis", "--branch", "taken")
    assert code == 2 and "already exists" in err
    assert state(sample_repo) == before


def test_subjects_fit_72_characters_and_the_body_lists_the_rest(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "redis", "storage", "metrics", "--commit")[0] == 0
    log = git(sample_repo, "log", "--format=%s%x00%b%x01", "--grep=^Paxx-Component:")
    commits = [entry.strip("\n").split("\0") for entry in log.split("\x01") if entry.strip()]
    assert len(commits) > 15
    for subject, _ in commits:
        assert len(subject) <= 72, subject
    bodies = {subject: body for subject, body in commits}
    deps = bodies["paxx(metrics): add 6 dependencies to pyproject.toml"]
    assert "- opentelemetry-sdk>=" in deps and "- opentelemetry-instrumentation-sqlalchemy>=" in deps
    storage_env = next(b for s, b in commits if s.startswith("paxx(storage): add ") and " variables to " in s)
    assert "- STORAGE_BACKEND\n" in storage_env and "- STORAGE_S3_SECRET_KEY\n" in storage_env
    # a subject short enough as it is stays as it is, with no body before the trailers
    assert bodies["paxx(redis): add redis to docker-compose.yml"].startswith("Paxx-Component:")


def test_env_example_descriptions_sit_above_their_keys(sample_repo: Path, run) -> None:
    from dotenv import dotenv_values

    assert run(sample_repo, "add", "redis", "storage", "metrics", "--commit")[0] == 0
    text = (sample_repo / ".env.example").read_text()
    values = dotenv_values(sample_repo / ".env.example")
    assert values["METRICS_ENABLED"] == "true" and values["REDIS_URL"] == "redis://localhost:6379/0"
    assert all("#" not in (value or "") for value in values.values())
    ours = [line for line in text.splitlines() if line.startswith(("REDIS_", "STORAGE_", "METRICS_", "OTEL_"))]
    expected = sum(len(tomllib.loads((SAMPLE.parents[1] / "bundles" / n / "bundle.toml").read_text())
                       ["settings"]) for n in ("redis", "storage", "metrics"))
    assert len(ours) == expected and not any("#" in line for line in ours)
    assert "# Record Prometheus metrics and serve /metrics\nMETRICS_ENABLED=true\n" in text
