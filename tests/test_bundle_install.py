"""What `add` puts into the dependency file must install.

The first tests are offline: which requirements the metrics bundle adds depends on
whether the project uses SQLAlchemy. The `index` tests resolve the project's
resulting dependencies with pip (`pip install --dry-run`) in a fresh virtualenv;
they need the package index and are skipped, saying so, where it is unreachable.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
import venv
from pathlib import Path

import pytest

from tests.conftest import SAMPLE, git, init_repo

SQLALCHEMY_INSTRUMENTATION = "opentelemetry-instrumentation-sqlalchemy"


def sample_without_sqlalchemy(path: Path) -> Path:
    repo = init_repo(path, SAMPLE)
    pyproject = repo / "pyproject.toml"
    lines = pyproject.read_text().splitlines(keepends=True)
    pyproject.write_text("".join(line for line in lines if "sqlalchemy" not in line))
    git(repo, "commit", "-qam", "no database")
    return repo


def project_dependencies(repo: Path) -> list[str]:
    return tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]


def names(requirements: list[str]) -> set[str]:
    return {r.split(">")[0].split("[")[0].split("=")[0].strip().lower() for r in requirements}


def test_metrics_adds_sqlalchemy_instrumentation_only_to_a_sqlalchemy_project(
    tmp_path: Path, run
) -> None:
    with_db = init_repo(tmp_path / "with", SAMPLE)
    without = sample_without_sqlalchemy(tmp_path / "without")
    for repo in (with_db, without):
        code, _, err = run(repo, "add", "metrics", "--commit")
        assert code == 0, err
    assert SQLALCHEMY_INSTRUMENTATION in names(project_dependencies(with_db))
    assert SQLALCHEMY_INSTRUMENTATION not in names(project_dependencies(without))
    assert "opentelemetry-instrumentation-fastapi" in names(project_dependencies(without))
    lock = tomllib.loads((without / "paxx-patch.lock").read_text())
    assert SQLALCHEMY_INSTRUMENTATION not in json.dumps(lock)


def test_show_lists_conditional_dependencies(run, tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "show", "metrics")
    assert code == 0
    assert f"when the project depends on sqlalchemy: {SQLALCHEMY_INSTRUMENTATION}" in out
    code, out, _ = run(tmp_path, "show", "metrics", "--json")
    info = json.loads(out)
    assert info["conditional_dependencies"][0]["when"] == "sqlalchemy"
    assert SQLALCHEMY_INSTRUMENTATION not in names(info["dependencies"])


@pytest.fixture(scope="module")
def fresh_pip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pip of a brand-new virtualenv, once the package index answers."""
    env = tmp_path_factory.mktemp("pip-venv")
    venv.create(env, with_pip=True)
    pip = env / "bin" / "pip"
    probe = subprocess.run(
        [str(pip), "install", "--dry-run", "--no-deps", "--ignore-installed", "packaging"],
        capture_output=True, text=True, timeout=120,
    )
    if probe.returncode != 0:
        pytest.skip(f"the package index is unreachable: {probe.stderr.strip()[-300:]}")
    return pip


@pytest.mark.index
@pytest.mark.parametrize(
    "components, uses_sqlalchemy",
    # every bundle together (SQLAlchemy instrumentation included), and metrics alone in
    # a project without SQLAlchemy: each pip resolution costs ~25 s
    [(["redis", "storage", "metrics", "tasks"], True), (["metrics"], False)],
    ids=["all-with-sqlalchemy", "metrics-without-sqlalchemy"],
)
def test_resulting_dependencies_install_with_pip(
    tmp_path: Path, run, fresh_pip: Path, components: list[str], uses_sqlalchemy: bool
) -> None:
    repo = init_repo(tmp_path / "app", SAMPLE) if uses_sqlalchemy else sample_without_sqlalchemy(tmp_path / "app")
    code, _, err = run(repo, "add", *components, "--commit")
    assert code == 0, err
    wanted = project_dependencies(repo)
    proc = subprocess.run(
        [str(fresh_pip), "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", "-", *wanted],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"pip could not resolve {wanted}:\n{proc.stderr[-3000:]}"
    resolved = {item["metadata"]["name"].lower().replace("_", "-")
                for item in json.loads(proc.stdout)["install"]}
    assert names(wanted) <= resolved
