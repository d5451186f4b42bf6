"""`--commit` under faults: each step of landing failed, interrupted or killed, for
add, update and remove. The repository must end exactly as it was or exactly as an
undisturbed run leaves it (tests/fingerprint.py), never in between.

A process of its own is started only where the fault needs one: a signal (sent to the
whole process, it would reach this one's other threads too), SIGKILL, SIGSTOP with
resource limits, dropped root powers, a mount namespace. Injected failures, the runs
that build the scenarios and the runs that settle a killed landing call `main([...])`
here, which is the same code without the interpreter start.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paxx_patch.cli.main import main
from paxx_patch.runtime.faults import KILL_AT_ENV
from tests.conftest import (
    REDIS_COMMITS,
    REDIS_NEWER,
    REDIS_VERSION,
    ROOT,
    SAMPLE,
    git,
    init_repo,
)
from tests.fingerprint import DATES, difference, fingerprint

# in order; the branch moves between land-refreshed and land-ref (the point of no return)
STEPS = ["planned", "built", "land-locked", "land-prepared", "land-swapping", "land-swapped",
         "land-refreshed", "land-ref", "land-index", "land-done"]
LANDED_AT = STEPS.index("land-ref")


@dataclass
class Scenario:
    template: Path  # the repository before the command, never run in
    argv: list[str]
    before: dict[str, Any]
    after: dict[str, Any]  # an undisturbed run's result

    def copy(self, where: Path) -> Path:
        shutil.copytree(self.template, where, symlinks=True)
        return where


def cli(repo: Path, *argv: str, kill_at: str = "", **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own."""
    env = {**os.environ, **DATES}
    env.pop(KILL_AT_ENV, None)
    if kill_at:
        env[KILL_AT_ENV] = kill_at
    return subprocess.run([sys.executable, "-m", "paxx_patch", *argv], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120, **kwargs)


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run_here(repo: Path, *argv: str, kill_at: str = "") -> Ran:
    """The command run by `main([...])` in this process, with cli()'s environment."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in DATES.items():
            mp.setenv(key, value)
        mp.delenv(KILL_AT_ENV, raising=False)
        if kill_at:
            mp.setenv(KILL_AT_ENV, kill_at)
        mp.chdir(repo)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    return Ran(code, out.getvalue(), err.getvalue())


def newer_bundles(root: Path) -> Path:
    shutil.copytree(ROOT / "bundles" / "redis", root / "redis")
    toml = root / "redis" / "bundle.toml"
    text = toml.read_text()
    assert f'version = "{REDIS_VERSION}"' in text
    toml.write_text(text.replace(f'version = "{REDIS_VERSION}"', f'version = "{REDIS_NEWER}"'))
    template = root / "redis" / "templates" / "cache.py.j2"
    template.write_text(template.read_text() + "\n# a line the newer version adds\n")
    return root


def build_scenario(name: str, root: Path) -> Scenario:
    template = init_repo(root / "template", SAMPLE)
    argv = {"add": ["add", "redis", "--commit"], "update": ["update", "redis", "--commit"],
            "remove": ["remove", "redis", "--commit"]}[name]
    if name != "add":
        assert run_here(template, "add", "redis", "--commit").returncode == 0
    if name == "update":
        argv += ["--bundle-path", str(newer_bundles(root / "newer"))]
    scenario = Scenario(template, argv, {}, {})
    scenario.before = fingerprint(scenario.copy(root / "before"))
    undisturbed = scenario.copy(root / "after")
    proc = run_here(undisturbed, *argv)
    assert proc.returncode == 0, proc.stderr
    scenario.after = fingerprint(undisturbed)
    assert scenario.after["HEAD"] != scenario.before["HEAD"]
    return scenario


_BUILT: dict[str, Scenario] = {}


def built(name: str, factory: pytest.TempPathFactory) -> Scenario:
    """Each scenario is built once per session (inside a test: git is isolated then)."""
    if name not in _BUILT:
        _BUILT[name] = build_scenario(name, factory.mktemp(name))
    return _BUILT[name]


@pytest.fixture
def scenario(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return built(request.param, tmp_path_factory)


@pytest.fixture
def adding(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return built("add", tmp_path_factory)


def assert_exactly(repo: Path, scenario: Scenario, landed: bool) -> None:
    want = scenario.after if landed else scenario.before
    got = fingerprint(repo)
    assert got == want, difference(got, want)
    if landed:
        assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def assert_interrupted(proc: Ran | subprocess.CompletedProcess[str], landed: bool) -> None:
    assert proc.returncode == 130, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    expected = "after the change had landed" if landed else "nothing was changed"
    assert expected in proc.stderr


@pytest.mark.parametrize("scenario", ["add", "update", "remove"], indirect=True)
@pytest.mark.parametrize("step", [s for s in STEPS if s.startswith("land-")])
def test_failure_at_each_step_of_landing(scenario: Scenario, step: str, tmp_path: Path) -> None:
    """A write failing (the OSError of a full disk) at each step of landing."""
    repo = scenario.copy(tmp_path / "repo")
    proc = run_here(repo, *scenario.argv, kill_at=f"{step}:fail")
    landed = STEPS.index(step) >= LANDED_AT
    assert "Traceback" not in proc.stderr
    assert_exactly(repo, scenario, landed)
    assert proc.returncode == (0 if landed else 2), proc.stderr
    assert ("landing was completed" in proc.stdout) if landed else (
        "nothing was changed" in proc.stderr), proc.stdout + proc.stderr


@pytest.mark.parametrize("scenario", ["add", "update", "remove"], indirect=True)
@pytest.mark.parametrize("step", STEPS)
def test_ctrl_c_at_each_step(scenario: Scenario, step: str, tmp_path: Path) -> None:
    repo = scenario.copy(tmp_path / "repo")
    proc = cli(repo, *scenario.argv, kill_at=f"{step}:SIGINT")
    landed = STEPS.index(step) >= LANDED_AT
    assert "Traceback" not in proc.stderr
    assert_exactly(repo, scenario, landed)
    assert_interrupted(proc, landed)


# SIGTERM at every step; SIGHUP before landing, in its middle and at the point of no return
TERMINATIONS = [(step, "SIGTERM") for step in STEPS] + [
    (step, "SIGHUP") for step in ("built", "land-swapped", "land-ref")]


@pytest.mark.parametrize("scenario", ["add"], indirect=True)
@pytest.mark.parametrize(("step", "how"), TERMINATIONS)
def test_termination_at_each_step(scenario: Scenario, step: str, how: str, tmp_path: Path) -> None:
    """SIGTERM and SIGHUP take Ctrl-C's path (one handler for the three, one mask), so
    they are sent to one command, where Ctrl-C is sent to every command at every step."""
    repo = scenario.copy(tmp_path / "repo")
    proc = cli(repo, *scenario.argv, kill_at=f"{step}:{how}")
    landed = STEPS.index(step) >= LANDED_AT
    assert "Traceback" not in proc.stderr
    assert_exactly(repo, scenario, landed)
    assert_interrupted(proc, landed)


@pytest.mark.parametrize("scenario", ["add", "update", "remove"], indirect=True)
@pytest.mark.parametrize("step", STEPS[2:])
def test_killed_landing_is_settled_by_the_next_run(scenario: Scenario, step: str, tmp_path: Path) -> None:
    """Recovery: rolled back while the branch does not hold the tip, completed once it does."""
    repo = scenario.copy(tmp_path / "repo")
    assert cli(repo, *scenario.argv, kill_at=step).returncode == -signal.SIGKILL
    dry = [a if a != "--commit" else "--dry-run" for a in scenario.argv]
    proc = run_here(repo, *dry)  # any run that takes the repository settles the leftover first
    assert "Traceback" not in proc.stderr
    if step not in ("land-locked", "land-done"):  # a journal was there to settle
        assert "an earlier run was stopped while landing" in proc.stderr
    assert_exactly(repo, scenario, landed=STEPS.index(step) >= LANDED_AT)


@pytest.mark.parametrize("step", ["land-swapped", "land-ref"])
def test_status_settles_a_killed_landing(adding: Scenario, step: str, tmp_path: Path) -> None:
    """`status` reports the repository as the landing ends, not half-way through it."""
    repo = adding.copy(tmp_path / "repo")
    assert cli(repo, *adding.argv, kill_at=step).returncode == -signal.SIGKILL
    proc = run_here(repo, "status")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "an earlier run was stopped while landing" in proc.stderr
    landed = STEPS.index(step) >= LANDED_AT
    assert_exactly(repo, adding, landed)
    assert ("redis " in proc.stdout) == landed, proc.stdout


def test_a_killed_landing_whose_lock_was_deleted_is_still_settled(adding: Scenario, tmp_path: Path) -> None:
    """The user removes the stale index.lock by hand (git tells them to) before the next run."""
    scenario = adding
    for step, landed in (("land-swapping", False), ("land-ref", True)):
        repo = scenario.copy(tmp_path / step)
        assert cli(repo, *scenario.argv, kill_at=step).returncode == -signal.SIGKILL
        (repo / ".git" / "index.lock").unlink()
        assert run_here(repo, "add", "redis", "--dry-run").returncode == 0
        assert_exactly(repo, scenario, landed)


@pytest.mark.parametrize("scenario", ["add", "remove"], indirect=True)
def test_a_rollback_that_fails_says_how_to_finish_it(scenario: Scenario, tmp_path: Path) -> None:
    """The commands the message gives, run as given, put the repository back exactly."""
    repo = scenario.copy(tmp_path / "repo")
    proc = run_here(repo, *scenario.argv, kill_at="land-swapped:fail,land-rollback:fail")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and "so did putting your files back" in proc.stderr
    commands = [line.strip() for line in proc.stderr.splitlines() if line.startswith("  ")]
    assert commands[0].startswith("rm -f ") and commands[0].endswith("index.lock")
    for command in commands:
        subprocess.run(command, shell=True, cwd=repo, check=True, capture_output=True)
    assert_exactly(repo, scenario, landed=False)


@pytest.mark.parametrize("scenario", ["add"], indirect=True)
def test_held_index_lock_refuses(scenario: Scenario, tmp_path: Path) -> None:
    repo = scenario.copy(tmp_path / "repo")
    (repo / ".git" / "index.lock").write_text("")  # a `git add` running
    before = fingerprint(repo)
    proc = run_here(repo, *scenario.argv)
    assert proc.returncode == 2 and "index.lock exists" in proc.stderr, proc.stderr
    assert fingerprint(repo) == before
    assert (repo / ".git" / "index.lock").read_text() == ""  # theirs, left alone


def _failing_smudge(repo: Path) -> None:
    (repo / ".gitattributes").write_text("services/*.py filter=x\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attributes")
    git(repo, "config", "filter.x.smudge", "false")
    git(repo, "config", "filter.x.clean", "cat")
    git(repo, "config", "filter.x.required", "true")


def test_failing_smudge_filter_changes_nothing(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", SAMPLE)
    _failing_smudge(repo)
    before = fingerprint(repo)
    proc = run_here(repo, "add", "redis", "--commit")
    assert proc.returncode == 2, proc.stderr
    assert "smudge filter x failed" in proc.stderr and "nothing was changed" in proc.stderr
    assert fingerprint(repo) == before


def _without_root_powers() -> list[str]:
    """As root, permissions do not stop writes; drop the capabilities that ignore them."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def test_read_only_directory_refuses(tmp_path: Path) -> None:
    prefix = _without_root_powers()
    repo = init_repo(tmp_path / "repo", SAMPLE)
    (repo / "services").mkdir()
    (repo / "services" / "README.md").write_text("our services\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "services dir")
    (repo / "services").chmod(0o555)
    try:
        before = fingerprint(repo)
        env = {**os.environ, **DATES}
        proc = subprocess.run([*prefix, sys.executable, "-m", "paxx_patch", "add", "redis", "--commit"],
                              cwd=repo, env=env, capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert "cannot write in" in proc.stderr and "services" in proc.stderr
        assert fingerprint(repo) == before
    finally:
        (repo / "services").chmod(0o755)


def test_read_only_file_is_replaced_like_git_does(adding: Scenario, tmp_path: Path) -> None:
    """git replaces a read-only file on checkout (the directory is what counts); so do we."""
    prefix = _without_root_powers()
    scenario = adding
    repo = scenario.copy(tmp_path / "repo")
    (repo / "settings.py").chmod(0o444)
    proc = subprocess.run([*prefix, sys.executable, "-m", "paxx_patch", *scenario.argv],
                          cwd=repo, env={**os.environ, **DATES}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert_exactly(repo, scenario, landed=True)


def stopped_after_build(repo: Path, argv: list[str]) -> subprocess.Popen[str]:
    """The command, stopped (SIGSTOP) once its commits are built, right before landing."""
    env = {**os.environ, **DATES, "PAXX_PATCH_TEST_KILL_AT": "built:SIGSTOP"}
    proc = subprocess.Popen([sys.executable, "-m", "paxx_patch", *argv], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(1200):
        if Path(f"/proc/{proc.pid}/stat").read_text().split(")")[-1].split()[0] == "T":
            return proc
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the command never reached `built`")


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 4, 6, 8, 16])
def test_file_size_limit_while_landing(adding: Scenario, tmp_path: Path, limit: int) -> None:
    """RLIMIT_FSIZE, set once the commits are built, makes landing's writes fail as on
    a full disk (EFBIG in Python; git is killed by SIGXFSZ)."""
    scenario = adding
    repo = scenario.copy(tmp_path / "repo")
    proc = stopped_after_build(repo, scenario.argv)
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (limit * 1024, limit * 1024))
    os.kill(proc.pid, signal.SIGCONT)
    _out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    got = fingerprint(repo)
    assert got in (scenario.before, scenario.after), difference(got, scenario.before)
    assert proc.returncode == (0 if got == scenario.after else 2), err


FULL_DISK = r"""
set -e
mount -t tmpfs -o size={size}k tmpfs "$1"
cp -a "$2" "$1/repo"
cd "$1/repo"
set +e
PAXX_PATCH_TEST_KILL_AT={stop}:SIGSTOP "$3" -m paxx_patch {argv} >/dev/null 2>"$5" &
pid=$!
until [ "$(cut -d')' -f2 /proc/$pid/stat | cut -d' ' -f2)" = T ] || ! kill -0 $pid; do
  sleep 0.05
done
avail=$(df -k --output=avail "$1" | tail -1)
head -c $((avail - {free}))k /dev/zero > "$1/fill" 2>/dev/null
kill -CONT $pid
wait $pid
code=$?
rm -f "$1/fill"
cat "$5" >&2
echo "exit $code" >&2
"$3" "$4" "$1/repo"
"""


def _can_mount_tmpfs(where: Path) -> bool:
    if not shutil.which("unshare"):
        return False
    proc = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {where}"],
                          capture_output=True)
    return proc.returncode == 0


@pytest.mark.parametrize(("stop", "free"), [("built", free) for free in (0, 4, 8, 12, 16, 24, 32, 48, 64)]
                         + [("planned", free) for free in (0, 8, 16, 32, 64)])
def test_full_disk(adding: Scenario, tmp_path: Path, stop: str, free: int) -> None:
    """A real ENOSPC: the repository on a small tmpfs in a mount namespace of its own,
    filled up to `free` KiB once the commits are built, right before landing (`built`),
    or before they are built (`planned`): git's message, and no crash report, quarantine
    or run marker left behind."""
    import json

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if not _can_mount_tmpfs(mnt):
        pytest.skip("cannot mount a tmpfs here (no mount namespace); test_file_size_limit covers it")
    scenario = adding
    script = FULL_DISK.format(size=4096, free=free, stop=stop, argv=" ".join(scenario.argv))
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(mnt), str(scenario.template),
         sys.executable, str(Path(__file__).parent / "fingerprint.py"), str(tmp_path / "err")],
        env={**os.environ, **DATES, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    got = json.loads(proc.stdout)
    assert got in (scenario.before, scenario.after), difference(got, scenario.before)
    assert "exit " in proc.stderr, proc.stderr
    code = int(proc.stderr.rsplit("exit ", 1)[1].split()[0])
    assert code == (0 if got == scenario.after else 2), proc.stderr
    if code == 2:
        assert "space" in proc.stderr.split("exit ")[0], proc.stderr  # ENOSPC, in git's words or ours
        assert "crash report" not in proc.stderr, proc.stderr


LINKED_ELSEWHERE = r"""
set -e
mount -t tmpfs -o size=20m tmpfs "$1"
git -C "$2" worktree add -q -b side "$1/wt"
cd "$1/wt"
"$3" -m paxx_patch add redis --commit >/dev/null
git status --porcelain --untracked-files=all
git rev-list --count main..side
"""


def test_linked_worktree_on_another_file_system(adding: Scenario, tmp_path: Path) -> None:
    """Renames cannot cross file systems: the staging area goes where the working tree is."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if not _can_mount_tmpfs(mnt):
        pytest.skip("cannot mount a tmpfs here (no mount namespace)")
    repo = adding.copy(tmp_path / "repo")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", LINKED_ELSEWHERE, "sh", str(mnt), str(repo),
                           sys.executable], env={**os.environ, **DATES}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{REDIS_COMMITS}\n"  # a clean status, and the commits on the worktree's branch
    assert fingerprint(repo)["leftovers"] == []
