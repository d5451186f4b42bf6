"""The fleet on all-repos: 50 local repositories served as file:// remotes (copies of
the sample project and of layouts from real apps, two that paxx-patch refuses),
cloned by all-repos-clone, changed by `paxx-patch fleet autofix` at -j 8 through
all_repos.push.merge_to_master, then updated with one repository in conflict, and
reported by `paxx-patch fleet status`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paxx_patch.bundle import load_bundle_dir
from tests.conftest import ROOT, SAMPLE, git, init_repo
from tests.test_long_tail import (
    FACTORY_APP,
    MODULE_RUN_APP,
    OWN_NAMES_APP,
    SERVER_OBJECT,
)

pytestmark = pytest.mark.xdist_group("fleet")

LIBRARY = {"pyproject.toml": '[project]\nname = "lib"\nversion = "0.1.0"\n',
           "lib/__init__.py": '"""A library: no app, no settings."""\n'}
LAYOUTS = {"factory": FACTORY_APP, "own-names": OWN_NAMES_APP, "module-run": MODULE_RUN_APP,
           "server-object": SERVER_OBJECT}
SAMPLES = 44
REFUSING = ("library-1", "library-2")
VERSIONS = {name: load_bundle_dir(ROOT / "bundles" / name).version for name in ("redis", "metrics")}
NEWER = ".".join([*VERSIONS["metrics"].split(".")[:2], str(int(VERSIONS["metrics"].split(".")[2]) + 1)])
IDENTITY = {"GIT_AUTHOR_NAME": "Platform Team", "GIT_AUTHOR_EMAIL": "platform@example.com",
            "GIT_COMMITTER_NAME": "Platform Team", "GIT_COMMITTER_EMAIL": "platform@example.com"}


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**env, **IDENTITY, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}


def _run(args: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check:
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


def _fleet(tmp: Path, samples: int = SAMPLES, others: bool = True) -> tuple[Path, dict[str, Path], dict[str, str]]:
    """Remotes and an all-repos config whose clones are made; (config, remotes, env).
    50 repositories; `samples` sample projects alone when not `others`."""
    env = _env(tmp / "home")
    (tmp / "home").mkdir()
    remotes: dict[str, Path] = {}
    sources: dict[str, Path | dict[str, str]] = {f"sample-{n:02}": SAMPLE for n in range(samples)}
    if others:
        sources.update(LAYOUTS)
        sources.update(dict.fromkeys(REFUSING, LIBRARY))
        assert len(sources) == 50
    for name, files in sources.items():
        work = init_repo(tmp / "work" / name, files)
        remote = tmp / "remotes" / f"{name}.git"
        git(tmp, "clone", "-q", "--bare", str(work), str(remote))
        remotes[name] = remote
    (tmp / "repos.json").write_text(json.dumps({n: r.as_uri() for n, r in remotes.items()}))
    config = tmp / "all-repos.json"
    config.write_text(json.dumps({
        "output_dir": "output", "source": "all_repos.source.json_file",
        "source_settings": {"filename": str(tmp / "repos.json")},
        "push": "all_repos.push.merge_to_master", "push_settings": {},
    }))
    config.chmod(0o600)
    _run([sys.executable, "-m", "all_repos.clone", "-C", str(config), "-j", "8"], tmp, env)
    return config, remotes, env


def _heads(remotes: dict[str, Path]) -> dict[str, str]:
    return {n: git(r, "rev-parse", "HEAD").strip() for n, r in remotes.items()}


def _autofix(config: Path, env: dict[str, str], *args: str, jobs: int | None = 8) -> subprocess.CompletedProcess[str]:
    parallel = ["-j", str(jobs)] if jobs else []  # all-repos: not with --dry-run or -i
    return _run([sys.executable, "-m", "paxx_patch", "fleet", "autofix", "-C", str(config), *parallel,
                 "--color", "never", *args, "--json"], config.parent, env, check=False)


def _outcomes(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    document = json.loads(done.stdout[done.stdout.rindex('{\n  "outcomes"'):])
    return {str(o["repo"]): o for o in document["outcomes"]}


def test_a_fleet_rolls_out_updates_and_reports(tmp_path: Path) -> None:
    config, remotes, env = _fleet(tmp_path)
    before = _heads(remotes)

    done = _autofix(config, env, "add", "redis", "metrics", "--no-lock")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # two refused
    outcomes = _outcomes(done)
    assert {n for n, o in outcomes.items() if o["result"] == "pushed"} == set(remotes) - set(REFUSING)
    for name in REFUSING:
        assert outcomes[name]["result"] == "refused"
        assert "FastAPI" in str(outcomes[name]["detail"]), outcomes[name]
    after = _heads(remotes)
    assert {n for n in remotes if after[n] == before[n]} == set(REFUSING)  # their remotes untouched

    for name in ("sample-00", "sample-43", *LAYOUTS):
        checkout = tmp_path / "check" / name
        git(tmp_path, "clone", "-q", remotes[name].as_uri(), str(checkout))
        log = git(checkout, "log", "--format=%s%n%b", f"{before[name]}..HEAD")
        # paxx-patch's own commits, one per mutator, with their trailers, merged
        assert "services/cache.py\nPaxx-Component: redis\nPaxx-Version:" in log
        assert "Paxx-Component: metrics" in log and "Paxx-Mutator: wiring" in log
        assert "Merge branch 'all-repos_autofix_paxx-patch-add-redis-metrics'" in log
        lock = next(checkout.rglob("paxx-patch.lock")).read_text()
        assert "[components.redis]" in lock and "[components.metrics]" in lock
        assert _run([sys.executable, "-m", "paxx_patch", "verify"], checkout, env, check=False).returncode == 0

    # a newer metrics from the platform's own bundles, and a hand edit in its way
    platform = tmp_path / "platform"
    shutil.copytree(ROOT / "bundles" / "metrics", platform / "metrics")
    toml = platform / "metrics" / "bundle.toml"
    assert f'version = "{VERSIONS["metrics"]}"' in toml.read_text()
    toml.write_text(toml.read_text().replace(f'version = "{VERSIONS["metrics"]}"', f'version = "{NEWER}"', 1))
    template = platform / "metrics" / "templates" / "metrics.py.j2"
    old_line = "UNMATCHED_PATH = \"<unmatched>\"\n"
    assert old_line in template.read_text()
    template.write_text(template.read_text().replace(old_line, "UNMATCHED_PATH = \"<no route>\"\n"))
    edited = tmp_path / "edit"
    git(tmp_path, "clone", "-q", remotes["sample-07"].as_uri(), str(edited))
    module = next(edited.rglob("services/metrics.py"))
    module.write_text(module.read_text().replace(old_line, "UNMATCHED_PATH = \"(unmatched)\"\n"))
    _run(["git", "commit", "-qam", "our own label for unmatched paths"], edited, env)
    _run(["git", "push", "-q", "origin", "HEAD"], edited, env)
    _run([sys.executable, "-m", "all_repos.clone", "-C", str(config), "-j", "8"], tmp_path, env)
    before = _heads(remotes)

    done = _autofix(config, env, "update", "metrics", "--bundle-path", str(platform), "--no-lock")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    outcomes = _outcomes(done)
    assert set(outcomes) == set(remotes) - set(REFUSING)  # only repositories with a lock
    assert outcomes["sample-07"]["result"] == "conflict", outcomes["sample-07"]
    assert "services/metrics.py" in str(outcomes["sample-07"]["detail"]), outcomes["sample-07"]
    assert {n for n, o in outcomes.items() if o["result"] == "pushed"} == set(outcomes) - {"sample-07"}
    after = _heads(remotes)
    assert after["sample-07"] == before["sample-07"]
    assert all(after[n] != before[n] for n in outcomes if n != "sample-07")

    _run([sys.executable, "-m", "all_repos.clone", "-C", str(config), "-j", "8"], tmp_path, env)
    status = _run([sys.executable, "-m", "paxx_patch", "fleet", "status", "-C", str(config), "--json",
                   "--require", f"metrics>={NEWER}", "--require", "redis"], tmp_path, env, check=False)
    assert status.returncode == 1, status.stdout + status.stderr
    document = json.loads(status.stdout)
    by_repo = {r["repo"]: {c["name"]: c for c in r["components"]} for r in document["repositories"]}
    for name in set(remotes) - {"sample-07", *REFUSING}:
        assert by_repo[name]["metrics"]["version"] == NEWER, name
        assert by_repo[name]["metrics"]["latest"] == VERSIONS["metrics"]  # the newest built-in one
        assert by_repo[name]["redis"]["version"] == VERSIONS["redis"], name
        assert [c["edited"] for c in by_repo[name].values()] == [[], []], name
    assert by_repo["sample-07"]["metrics"]["version"] == VERSIONS["metrics"]
    assert by_repo["sample-07"]["metrics"]["edited"] == ["services/metrics.py"]
    assert by_repo["sample-07"]["redis"]["edited"] == []
    assert by_repo["library-1"] == {}
    assert sorted(document["drift"]) == sorted([
        f"library-1: metrics is not installed (metrics>={NEWER})", "library-1: redis is not installed (redis)",
        f"library-2: metrics is not installed (metrics>={NEWER})", "library-2: redis is not installed (redis)",
        f"sample-07: metrics {VERSIONS['metrics']} is outside >={NEWER}"])
    table = _run([sys.executable, "-m", "paxx_patch", "fleet", "status", "-C", str(config)], tmp_path, env)
    row = next(line for line in table.stdout.splitlines() if line.startswith("sample-07 ") and "metrics" in line)
    metrics = VERSIONS["metrics"]
    assert row.split()[:5] == ["sample-07", "metrics", metrics, metrics, "services/metrics.py"], row


def test_a_dry_run_pushes_nothing_and_limit_takes_the_first(tmp_path: Path) -> None:
    config, remotes, env = _fleet(tmp_path, samples=3, others=False)
    before = _heads(remotes)
    done = _autofix(config, env, "add", "redis", "--no-lock", "--dry-run", "--limit", "2", jobs=None)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outcomes = _outcomes(done)
    assert set(outcomes) == {"sample-00", "sample-01"}
    assert all(o["result"] == "dry-run" and len(o["commits"]) == 7 for o in outcomes.values()), outcomes  # type: ignore[arg-type]
    assert _heads(remotes) == before


@pytest.mark.parametrize("problem", ["missing", "permissions", "not json"])
def test_a_bad_config_is_a_clear_error_and_nothing_runs(tmp_path: Path, problem: str) -> None:
    config = tmp_path / "all-repos.json"
    if problem != "missing":
        config.write_text('{"output_dir": "output"' if problem == "not json" else "{}")
        config.chmod(0o644 if problem == "permissions" else 0o600)
    env = _env(tmp_path)
    for command in (["autofix", "add", "redis"], ["status"]):
        done = _run([sys.executable, "-m", "paxx_patch", "fleet", *command, "-C", str(config)], tmp_path, env,
                    check=False)
        assert done.returncode == 2, done.stdout + done.stderr
        assert str(config) in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert {"missing": "no all-repos config", "permissions": "permissions",
                "not json": "not an all-repos config"}[problem] in done.stderr, done.stderr
    assert not (tmp_path / "output").exists()


def test_the_readme_example_runs(tmp_path: Path) -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("<!-- fleet-example -->"):readme.index("<!-- /fleet-example -->")]
    script = re.search(r"```sh\n(.*?)```", block, re.DOTALL)
    assert script is not None
    env = _env(tmp_path / "home")
    (tmp_path / "home").mkdir()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["TMPDIR"] = str(tmp_path)
    done = _run(["bash", "-euo", "pipefail", "-c", script.group(1)], tmp_path, env)
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith(("orders ", "billing "))]
    metrics, redis = VERSIONS["metrics"], VERSIONS["redis"]
    assert sorted(r[:4] for r in rows) == [
        ["billing", "metrics", metrics, metrics], ["billing", "redis", redis, redis],
        ["orders", "metrics", metrics, metrics], ["orders", "redis", redis, redis]], done.stdout


@pytest.mark.parametrize("policy", ["metrics>=", "metrics >= one", "Metrics; rm -rf /"])
def test_a_policy_that_is_no_requirement_is_a_clear_error(tmp_path: Path, policy: str) -> None:
    config, _, env = _fleet(tmp_path, samples=1, others=False)
    done = _run([sys.executable, "-m", "paxx_patch", "fleet", "status", "-C", str(config), "--require", policy],
                tmp_path, env, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"--require {policy!r}" in done.stderr and "e.g. --require 'metrics>=1.3'" in done.stderr
    assert "Traceback" not in done.stderr
