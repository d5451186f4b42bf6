from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from paxx_patch.cli.main import main
from paxx_patch.commands.verify import DIFF_LINES, verify
from paxx_patch.manifest import LOCK_NAME, ComponentRecord, Lock, blob_id, parse_lock
from paxx_patch.runtime.errors import error_handler

CACHE = "services/cache.py"
CACHE_PY = b'''"""Made by paxx-patch redis 1.0.0."""

from redis.asyncio import Redis

_client: Redis | None = None


def get_redis() -> Redis:
    global _client
    if _client is None:
        _client = Redis.from_url("redis://localhost:6379/0")
    return _client
'''
MAIN_PY = b"from fastapi import FastAPI\n\napp = FastAPI()\n"
EDITED = CACHE_PY.replace(b"redis://localhost:6379/0", b"redis://cache:6379/1")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"jinja2", "libcst", "ruamel", "tomlkit", "git"}


MakeRepo = Callable[[Path], Path]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def install_redis(project: Path) -> None:
    """The state `paxx-patch add redis --commit` leaves behind, written by hand."""
    (project / "services").mkdir(parents=True)
    (project / "services/__init__.py").write_bytes(b"")
    (project / CACHE).write_bytes(CACHE_PY)
    record = ComponentRecord(
        name="redis",
        version="1.0.0",
        variables={"services_dir": "services"},
        files={CACHE: blob_id(CACHE_PY)},
        entries={"dependencies": {"added": ["redis>=5.0"]}},
    )
    (project / LOCK_NAME).write_text(Lock({"redis": record}).dumps())


@pytest.fixture
def repo(tmp_path: Path, make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with redis installed and committed; the cwd is its root."""
    root = make_repo(tmp_path / "project")
    (root / "main.py").write_bytes(MAIN_PY)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "app")
    install_redis(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "paxx(redis): add services/cache.py")
    monkeypatch.chdir(root)
    return root


def run_verify(
    capsys: pytest.CaptureFixture[str], *files: str, project: str | None = None
) -> tuple[int, str, str]:
    with error_handler() as result:
        result[0] = verify(files=files, project=project)
    out, err = capsys.readouterr()
    return result[0], out, err


def edit_lock(root: Path, **files: str) -> None:
    lock = parse_lock((root / LOCK_NAME).read_text())
    lock.components["redis"].files = dict(files)
    (root / LOCK_NAME).write_text(lock.dumps())


# untouched


@pytest.mark.parametrize("files", [(), ("main.py",), (CACHE,), (LOCK_NAME, CACHE, "main.py")])
def test_untouched_install_passes_silently(
    repo: Path, capsys: pytest.CaptureFixture[str], files: tuple[str, ...]
) -> None:
    assert run_verify(capsys, *files) == (0, "", "")


def test_no_lock_means_nothing_installed(
    tmp_path: Path,
    make_repo: MakeRepo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(make_repo(tmp_path / "bare"))
    assert run_verify(capsys) == (0, "", "")
    assert run_verify(capsys, "main.py") == (0, "", "")


# modified and missing owned files


def test_edited_owned_file_fails_with_diff_and_ways_out(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / CACHE).write_bytes(EDITED)
    code, out, err = run_verify(capsys)
    assert (code, err) == (1, "")
    assert f"{CACHE} (redis): modified" in out
    assert '-        _client = Redis.from_url("redis://localhost:6379/0")' in out
    assert '+        _client = Redis.from_url("redis://cache:6379/1")' in out
    assert f"git cat-file blob {blob_id(CACHE_PY)} > {CACHE}" in out
    assert f"paxx-patch eject redis {CACHE}" in out


def test_printed_restore_command_restores_the_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / CACHE).write_bytes(EDITED)
    _, out, _ = run_verify(capsys)
    restore = next(line.strip() for line in out.splitlines() if "git cat-file" in line)
    subprocess.run(restore, shell=True, check=True, cwd=repo)
    assert run_verify(capsys) == (0, "", "")
    assert (repo / CACHE).read_bytes() == CACHE_PY


def test_diff_comes_from_a_packed_blob_too(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "gc", "-q")
    assert not (repo / ".git/objects" / blob_id(CACHE_PY)[:2]).exists()
    (repo / CACHE).write_bytes(EDITED)
    code, out, _ = run_verify(capsys, CACHE)
    assert code == 1
    assert '+        _client = Redis.from_url("redis://cache:6379/1")' in out


def test_diff_is_capped(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / CACHE).write_bytes(b"".join(b"x = %d\n" % i for i in range(200)))
    code, out, _ = run_verify(capsys)
    assert code == 1
    assert "more diff lines" in out
    assert len(out.splitlines()) < DIFF_LINES + 15


def test_blob_missing_from_repository_still_reported(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_lock(repo, **{CACHE: blob_id(b"never stored\n")})
    code, out, _ = run_verify(capsys, CACHE)
    assert code == 1
    assert "not in this repository" in out
    assert f"git checkout HEAD -- {CACHE}" in out


def test_deleted_owned_file_is_reported_missing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / CACHE).unlink()
    code, out, _ = run_verify(capsys)
    assert code == 1
    assert f"{CACHE} (redis): missing" in out
    # pre-commit never passes the name of a deleted file: any run must notice it
    assert run_verify(capsys, "main.py")[0] == 1


# file arguments


def test_unowned_file_argument_ignores_modified_owned_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / CACHE).write_bytes(EDITED)
    assert run_verify(capsys, "main.py") == (0, "", "")
    assert run_verify(capsys, CACHE)[0] == 1
    assert run_verify(capsys, f"./{CACHE}")[0] == 1


def test_lock_argument_checks_every_owned_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / CACHE).write_bytes(EDITED)
    code, out, _ = run_verify(capsys, LOCK_NAME)
    assert code == 1
    assert f"{CACHE} (redis): modified" in out


def test_arguments_are_relative_to_the_cwd(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / CACHE).write_bytes(EDITED)
    monkeypatch.chdir(repo / "services")
    code, out, _ = run_verify(capsys, "cache.py")
    assert code == 1
    assert "cache.py (redis): modified" in out
    assert run_verify(capsys, "__init__.py") == (0, "", "")


# ejected files


def test_ejected_file_is_not_verified(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = parse_lock((repo / LOCK_NAME).read_text())
    lock.components["redis"].ejected = [CACHE]
    (repo / LOCK_NAME).write_text(lock.dumps())
    (repo / CACHE).write_bytes(EDITED)
    assert run_verify(capsys) == (0, "", "")
    assert run_verify(capsys, CACHE, LOCK_NAME) == (0, "", "")
    (repo / CACHE).unlink()
    assert run_verify(capsys, LOCK_NAME) == (0, "", "")


# the lock itself


def test_unparseable_lock_is_bad_input_naming_file_and_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (repo / LOCK_NAME).read_text()
    (repo / LOCK_NAME).write_text(text + "\n[components.redis\n")
    code, out, err = run_verify(capsys, "main.py")
    assert (code, out) == (2, "")
    line = len(text.splitlines()) + 2
    assert f"{LOCK_NAME}: cannot parse the lock" in err
    assert f"line {line}" in err
    assert "Traceback" not in err


def test_hand_edited_blob_id_is_caught_when_the_lock_is_checked(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The edit is staged, so its blob exists: existence alone would not catch this.
    (repo / CACHE).write_bytes(EDITED)
    edit_lock(repo, **{CACHE: blob_id(EDITED)})
    git(repo, "add", "-A")
    code, out, _ = run_verify(capsys, LOCK_NAME, CACHE)
    assert code == 1
    assert f"{LOCK_NAME} was edited by hand" in out
    line = (repo / LOCK_NAME).read_text().splitlines().index(f'"{CACHE}" = "{blob_id(EDITED)}"')
    assert (
        f"{LOCK_NAME}:{line + 1}: {CACHE} (redis): blob id {blob_id(EDITED)} was not recorded by "
        f"paxx-patch (the committed lock has {blob_id(CACHE_PY)})"
    ) in out
    assert f"git checkout HEAD -- {LOCK_NAME}" in out


def test_owned_file_dropped_from_the_lock_is_caught(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_lock(repo)
    code, out, _ = run_verify(capsys, LOCK_NAME)
    assert code == 1
    assert f"{CACHE} (redis) was dropped from the lock" in out


def test_lock_change_brought_by_a_conflicted_cherry_pick_is_accepted(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # what `update --commit` leaves when a shared file conflicts
    git(repo, "checkout", "-q", "-b", "update")
    (repo / CACHE).write_bytes(EDITED)
    edit_lock(repo, **{CACHE: blob_id(EDITED)})
    (repo / "main.py").write_bytes(MAIN_PY + b"# update\n")
    git(repo, "commit", "-qam", "paxx(redis): update to 1.1.0")
    git(repo, "checkout", "-q", "main")
    (repo / "main.py").write_bytes(MAIN_PY + b"# mine\n")
    git(repo, "commit", "-qam", "mine")
    pick = subprocess.run(
        ["git", "cherry-pick", "update"], cwd=repo, capture_output=True, check=False
    )
    assert pick.returncode != 0 and (repo / ".git/CHERRY_PICK_HEAD").exists()
    (repo / "main.py").write_bytes(MAIN_PY)
    assert run_verify(capsys, LOCK_NAME, CACHE, "main.py") == (0, "", "")
    git(repo, "cherry-pick", "--abort")
    # the same lock change without the cherry-pick is a hand edit
    (repo / CACHE).write_bytes(EDITED)
    edit_lock(repo, **{CACHE: blob_id(EDITED)})
    assert run_verify(capsys, LOCK_NAME)[0] == 1


# where the lock is


def test_project_in_a_subdirectory(
    tmp_path: Path,
    make_repo: MakeRepo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_repo(tmp_path / "mono")
    install_redis(root / "app")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "paxx(redis): add app/services/cache.py")
    monkeypatch.chdir(root)
    assert run_verify(capsys, project="app") == (0, "", "")
    (root / "app" / CACHE).write_bytes(EDITED)
    code, out, _ = run_verify(capsys, f"app/{CACHE}", project="app")
    assert code == 1
    assert f"app/{CACHE} (redis): modified" in out
    assert f"paxx-patch eject redis {CACHE} --project app" in out
    assert run_verify(capsys, f"app/{LOCK_NAME}", project="app")[0] == 1
    assert run_verify(capsys, CACHE, project="app")[0] == 0  # not an owned path from here
    assert run_verify(capsys, project="nowhere")[0] == 2


def test_linked_worktree_reads_loose_objects_from_the_common_dir(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = repo.parent / "other"
    git(repo, "worktree", "add", "-q", str(other))
    assert (other / ".git").is_file()
    monkeypatch.chdir(other)
    (other / CACHE).write_bytes(EDITED)
    code, out, _ = run_verify(capsys)
    assert code == 1
    assert '+        _client = Redis.from_url("redis://cache:6379/1")' in out


# through the command line, and after a real install


def test_command_line_dispatches_to_verify(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from paxx_patch.cli.main import main

    assert main(["verify", "main.py", CACHE]) == 0
    (repo / CACHE).write_bytes(EDITED)
    assert main(["verify", "main.py"]) == 0
    assert main(["verify", "main.py", CACHE]) == 1
    assert f"{CACHE} (redis): modified" in capsys.readouterr().out


def test_verify_after_paxx_patch_installed_redis(
    tmp_path: Path,
    git_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from paxx_patch.cli.main import main

    assert main(["demo", str(tmp_path / "demo")]) == 0
    monkeypatch.chdir(tmp_path / "demo")
    capsys.readouterr()
    assert run_verify(capsys) == (0, "", "")
    owned = parse_lock(Path(LOCK_NAME).read_text()).components["redis"].verified_files()
    assert CACHE in owned
    with open(CACHE, "a") as f:
        f.write("# my edit\n")
    code, out, _ = run_verify(capsys, CACHE)
    assert code == 1
    assert "+# my edit" in out


# the hook must start fast: no heavy imports


def imported_packages(args: list[str], cwd: Path) -> tuple[int, set[str]]:
    path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        env={**os.environ, "PYTHONPATH": path},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    names = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return proc.returncode, names


@pytest.mark.parametrize("edited", [False, True])
def test_verify_imports_no_heavy_library(repo: Path, edited: bool) -> None:
    if edited:
        (repo / CACHE).write_bytes(EDITED)
    code, names = imported_packages(
        ["-c", "import sys; from paxx_patch.commands.verify import verify; sys.exit(verify())"],
        repo,
    )
    assert code == int(edited)
    assert "paxx_patch" in names
    assert not names & HEAVY


@pytest.mark.parametrize("edited", [False, True])
def test_cli_verify_imports_no_heavy_library(repo: Path, edited: bool) -> None:
    if edited:
        (repo / CACHE).write_bytes(EDITED)
    code, names = imported_packages(["-m", "paxx_patch", "verify", LOCK_NAME, CACHE], repo)
    assert code == int(edited)
    assert not names & HEAVY


# through the real pre-commit tool


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A committed snapshot of this checkout, as pre-commit will clone and install it."""
    snapshot = tmp_path_factory.mktemp("hook-repo")
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = PROJECT_ROOT / name
        if source.is_file():
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    env = {
        **hook_env(snapshot),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "snapshot"]):
        subprocess.run(["git", *args], cwd=snapshot, env=env, check=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=snapshot,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return snapshot, sha


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pre-commit store for the session: the hook's environment is built once
    (`try-repo` would build it again in a store of its own at every call)."""
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="session")
def hook_config(hook_repo: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A configuration naming the snapshot's hook, outside the repositories it runs in:
    what `try-repo` writes for itself before it runs the hook."""
    snapshot, sha = hook_repo
    config = tmp_path_factory.mktemp("pre-commit-config") / "config.yaml"
    config.write_text(f"repos:\n- repo: {snapshot}\n  rev: {sha}\n  hooks:\n  - id: paxx-patch-verify\n")
    return config


def hook_env(home: Path, pre_commit_home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1", HOME=str(home))
    if pre_commit_home:
        env["PRE_COMMIT_HOME"] = str(pre_commit_home)
    return env


def pre_commit(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args, "--color=never"],
        check=False,
        cwd=repo,
        env=hook_env(repo.parent, home),
        capture_output=True,
        text=True,
    )


def run_hook(repo: Path, home: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return pre_commit(repo, home, "run", "--config", str(config), "paxx-patch-verify", "--all-files")


@pytest.mark.slow
@pytest.mark.xdist_group("pre-commit")
def test_pre_commit_runs_the_hook(repo: Path, hook_config: Path, pre_commit_home: Path) -> None:
    passed = run_hook(repo, pre_commit_home, hook_config)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "paxx-patch verify" in passed.stdout and "Passed" in passed.stdout
    (repo / CACHE).write_bytes(EDITED)
    failed = run_hook(repo, pre_commit_home, hook_config)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"{CACHE} (redis): modified" in failed.stdout
    assert '+        _client = Redis.from_url("redis://cache:6379/1")' in failed.stdout
    # the user takes the file over: the hook passes again, the edit is kept
    assert main(["eject", "redis", CACHE]) == 0
    assert git(repo, "log", "-1", "--format=%s").strip() == f"paxx(redis): eject {CACHE}"
    again = run_hook(repo, pre_commit_home, hook_config)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (repo / CACHE).read_bytes() == EDITED
    # one environment for the hook, made once and used by every run
    assert len(list(pre_commit_home.glob("repo*/py_env-*"))) == 1


@pytest.mark.slow
@pytest.mark.xdist_group("pre-commit")
def test_pre_commit_hook_guards_commits(repo: Path, hook_config: Path, pre_commit_home: Path) -> None:
    (repo / ".pre-commit-config.yaml").write_text(hook_config.read_text())
    git(repo, "add", ".pre-commit-config.yaml")
    git(repo, "commit", "-qm", "pre-commit")
    assert pre_commit(repo, pre_commit_home, "install").returncode == 0
    env = hook_env(repo.parent, pre_commit_home)

    def commit(message: str) -> subprocess.CompletedProcess[str]:
        # git sends a hook's output to stderr
        return subprocess.run(
            ["git", "commit", "-m", message],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    head = git(repo, "rev-parse", "HEAD")
    (repo / "main.py").write_bytes(MAIN_PY + b"# more app\n")
    git(repo, "add", "main.py")
    ok = commit("app change")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    head = git(repo, "rev-parse", "HEAD")

    (repo / CACHE).write_bytes(EDITED)
    git(repo, "add", CACHE)
    edited = commit("edit cache")
    assert edited.returncode != 0
    assert f"{CACHE} (redis): modified" in edited.stderr
    assert '+        _client = Redis.from_url("redis://cache:6379/1")' in edited.stderr

    edit_lock(repo, **{CACHE: blob_id(EDITED)})  # ... and cover it up in the lock
    git(repo, "add", LOCK_NAME)
    covered = commit("edit cache and lock")
    assert covered.returncode != 0
    assert f"{LOCK_NAME} was edited by hand" in covered.stderr

    git(repo, "reset", "-q", "--hard")
    git(repo, "rm", "-q", CACHE)  # the hook gets no file name for a deletion
    deleted = commit("delete cache")
    assert deleted.returncode != 0
    assert f"{CACHE} (redis): missing" in deleted.stderr
    assert git(repo, "rev-parse", "HEAD") == head


# repositories of other shapes: SHA-256 objects, CRLF checkouts


def test_sha256_repository(
    tmp_path: Path, git_env: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "sha256"
    root.mkdir()
    git(root, "init", "-q", "-b", "main", "--object-format=sha256")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.com")
    (root / "services").mkdir()
    (root / CACHE).write_bytes(CACHE_PY)
    record = ComponentRecord("redis", "1.0.0", files={CACHE: blob_id(CACHE_PY, "sha256")})
    (root / LOCK_NAME).write_text(Lock({"redis": record}).dumps())
    git(root, "add", "-A")
    git(root, "commit", "-qm", "install")
    assert git(root, "rev-parse", f"HEAD:{CACHE}").strip() == blob_id(CACHE_PY, "sha256")
    monkeypatch.chdir(root)
    assert run_verify(capsys) == (0, "", "")
    (root / CACHE).write_bytes(EDITED)
    code, out, _ = run_verify(capsys, CACHE)
    assert code == 1
    assert '+        _client = Redis.from_url("redis://cache:6379/1")' in out  # pristine read back


@pytest.mark.parametrize("setup", ["autocrlf", "attributes"])
def test_crlf_checkout_is_clean_and_a_real_edit_is_caught(
    repo: Path, capsys: pytest.CaptureFixture[str], setup: str
) -> None:
    if setup == "autocrlf":
        git(repo, "config", "core.autocrlf", "true")
    else:
        (repo / ".gitattributes").write_text("*.py text eol=crlf\n")
        git(repo, "add", ".gitattributes")
        git(repo, "commit", "-qm", "attributes")
    (repo / CACHE).unlink()
    git(repo, "checkout", "--", CACHE)  # as git writes it: CRLF line ends
    assert b"\r\n" in (repo / CACHE).read_bytes()
    assert run_verify(capsys) == (0, "", "")
    assert run_verify(capsys, CACHE, "main.py") == (0, "", "")
    (repo / CACHE).write_bytes(EDITED.replace(b"\n", b"\r\n"))
    code, out, _ = run_verify(capsys, CACHE)
    assert code == 1
    assert f"{CACHE} (redis): modified" in out


def test_crlf_in_a_repository_that_does_not_convert_is_a_change(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / CACHE).write_bytes(CACHE_PY.replace(b"\n", b"\r\n"))
    assert run_verify(capsys, CACHE)[0] == 1


# hostile locks


@pytest.mark.parametrize("path", ["../secret", "/etc/passwd", ".git/config", "services/../../secret"])
def test_lock_path_outside_the_repository_is_bad_input(
    repo: Path, capsys: pytest.CaptureFixture[str], path: str
) -> None:
    secret = repo.parent / "secret"
    secret.write_text("do-not-print\n")
    edit_lock(repo, **{path: blob_id(b"other\n")})
    code, out, err = run_verify(capsys)
    assert (code, out) == (2, "")
    assert f"{LOCK_NAME}:" in err and repr(path) in err
    assert "do-not-print" not in err and "cat-file" not in err
    assert secret.read_text() == "do-not-print\n"


def test_lock_of_a_newer_format_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (repo / LOCK_NAME).read_text()
    (repo / LOCK_NAME).write_text(text.replace("format = 1", "format = 2"))
    code, out, err = run_verify(capsys)
    assert (code, out) == (2, "")
    assert "Upgrade paxx-patch" in err and f"{LOCK_NAME}:3:" in err


# the command line's quick path for the hook


@pytest.mark.parametrize("argv", [
    ["verify", CACHE], ["verify", "--project", ".", CACHE], ["verify", "--project=.", CACHE],
    ["verify", "--", CACHE],
])
def test_quick_command_line_matches_argparse(
    repo: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    (repo / CACHE).write_bytes(EDITED)
    assert main(argv) == 1
    assert f"{CACHE} (redis): modified" in capsys.readouterr().out


def test_other_verify_options_go_to_argparse(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--help"]) == 0
    assert "--project" in capsys.readouterr().out
    assert main(["verify", "--bogus"]) == 2


@pytest.mark.parametrize("files", [["main.py", CACHE], []])
def test_clean_pass_loads_no_parser_or_process_module(
    repo: Path, files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # -S: only what paxx-patch imports counts, not what site or an editable install loads
    code, names = imported_packages(["-S", "-m", "paxx_patch", "verify", *files], repo)
    assert code == 0
    # (runpy, behind -m, takes contextlib); without files the committed lock is read
    # with git, spawned without the subprocess module
    slow = {"argparse", "shutil", "tomllib", "typing", "hashlib", "zlib", "subprocess"}
    assert not names & (slow | HEAVY), names & (slow | HEAVY)
    # and the lock audit still runs: a hand edit is caught on the same quick path
    edit_lock(repo, **{CACHE: blob_id(EDITED)})
    (repo / CACHE).write_bytes(EDITED)
    assert run_verify(capsys, *files, *([LOCK_NAME] if files else []))[0] == 1


@pytest.mark.slow
@pytest.mark.xdist_group("pre-commit")
def test_pre_commit_all_files_under_autocrlf(repo: Path, hook_config: Path, pre_commit_home: Path) -> None:
    git(repo, "config", "core.autocrlf", "true")
    (repo / CACHE).unlink()
    git(repo, "checkout", "--", CACHE)
    assert b"\r\n" in (repo / CACHE).read_bytes()
    passed = run_hook(repo, pre_commit_home, hook_config)
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_verify_outside_a_repository_says_so(tmp_path: Path, run) -> None:
    code, out, err = run(tmp_path, "verify")
    assert code == 2 and out == ""
    assert "is not inside a git repository, so there is nothing to verify" in err


# git failing is git failing: exit 2 "could not check", never "edited by hand"


def _git_off_path(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "no-git").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "no-git"))
    return "git could not be run (`git cat-file --batch`: No such file or directory)"


def _broken_head(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (root / ".git" / "HEAD").write_text("not a ref\n")
    return "`git cat-file --batch` failed: fatal: not a git repository"


def _git_dir_nowhere(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "nowhere"))
    return f"`git cat-file --batch` failed: fatal: not a git repository: '{tmp_path / 'nowhere'}'"


@pytest.mark.parametrize("break_git", [_git_off_path, _broken_head, _git_dir_nowhere])
@pytest.mark.parametrize("files", [(), (LOCK_NAME,)])
def test_a_git_that_cannot_run_is_reported_as_such_not_as_a_hand_edit(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], break_git: Callable[..., str], files: tuple[str, ...],
) -> None:
    said = break_git(repo, tmp_path, monkeypatch)
    code, out, err = run_verify(capsys, *files)
    assert code == 2 and out == "", (out, err)
    assert "edited by hand" not in out + err
    assert err.startswith(f"paxx-patch: error: could not check the files of {LOCK_NAME}, so "
                          "nothing is known to be edited: "), err
    assert said in err, err
    assert err.count("\n") == 1  # one paragraph, git's last line only


def test_a_modified_file_that_git_cannot_confirm_is_not_reported_either(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / CACHE).write_bytes(EDITED)
    _git_off_path(repo, tmp_path, monkeypatch)
    code, out, err = run_verify(capsys, CACHE)
    assert (code, out) == (2, ""), (out, err)
    assert "`git hash-object --stdin-paths`: No such file or directory" in err


def test_the_hook_command_line_without_git_exits_2(repo: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "paxx_patch", "verify"], cwd=repo, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "git could not be run" in proc.stderr and proc.stdout == ""
