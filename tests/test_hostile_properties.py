"""Properties under random hostile input: nothing outside the project is read or
written, values come out as the exact YAML scalars they were, and the exit code
is 0, 1 (verify found changes) or 2 (bad input), never 3 (internal error)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paxx_patch.manifest import LOCK_NAME, ComponentRecord, Lock, blob_id, parse_lock
from tests.conftest import REDIS_REQUIREMENT, ROOT, git

SECRET = "outside-sentinel-5c1e\n"
EXAMPLES = settings(
    max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """tmp_path/secret: `../secret` from the repository at tmp_path/app."""
    path = tmp_path / "secret"
    path.write_text(SECRET)
    return path


def outcome(run, repo: Path, *argv: str) -> tuple[int, str]:
    code, out, err = run(repo, *argv)
    assert code in (0, 1, 2), (argv, out, err)
    assert "internal error" not in err and "Traceback" not in err
    return code, out + err


def permissive_storage(tmp_path: Path) -> Path:
    bundles = tmp_path / "bundles"
    if not bundles.exists():
        shutil.copytree(ROOT / "bundles" / "storage", bundles / "storage")
        toml = bundles / "storage" / "bundle.toml"
        toml.write_text(toml.read_text().replace(
            'pattern = "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"', "pattern = '(?s).*'"))
    return bundles


counter = iter(range(10**6))


@EXAMPLES
@given(value=st.text(max_size=40))
def test_set_values_come_out_as_exact_scalars(
    sample_repo: Path, tmp_path: Path, secret: Path, run, value: str
) -> None:
    bundles = permissive_storage(tmp_path)
    branch = f"b{next(counter)}"
    code, text = outcome(run, sample_repo, "add", "storage", "--branch", branch,
                         "--bundle-path", str(bundles), "--set", f"bucket={value}")
    assert SECRET.strip() not in text
    assert secret.read_text() == SECRET
    if code != 0:
        assert "bucket" in text
        return
    compose = yaml.safe_load(git(sample_repo, "show", f"{branch}:docker-compose.yml"))
    init = compose["services"]["minio-init"]
    assert init["environment"] == {"MINIO_BUCKET": value}
    assert set(init) == {"image", "depends_on", "environment", "entrypoint", "command", "restart"}
    assert compose["services"]["app"]["environment"]["STORAGE_S3_BUCKET"] == value
    lock = parse_lock(git(sample_repo, "show", f"{branch}:{LOCK_NAME}"))
    assert lock.components["storage"].variables == {"bucket": value}
    git(sample_repo, "fsck", "--strict", "--no-dangling")


@EXAMPLES
@given(value=st.text(max_size=40))
def test_the_built_in_bucket_pattern_decides(sample_repo: Path, run, value: str) -> None:
    code, _ = outcome(run, sample_repo, "add", "storage", "--dry-run", "--set", f"bucket={value}")
    import re

    assert code == (0 if re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value) else 2)


requirement = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{0,12}(\[[a-z,]{1,8}\])?((>=|==|<|~=|!=)[0-9.*a-z]{0,30})?",
                  fullmatch=True),
)


@EXAMPLES
@given(dep=requirement)
def test_bundle_dependency_strings(sample_repo: Path, tmp_path: Path, secret: Path, run, dep: str) -> None:
    bundles = tmp_path / "dep-bundles"
    shutil.rmtree(bundles, ignore_errors=True)
    shutil.copytree(ROOT / "bundles" / "redis", bundles / "redis")
    toml = bundles / "redis" / "bundle.toml"
    text = toml.read_text()
    assert f'"{REDIS_REQUIREMENT}"' in text
    toml.write_text(text.replace(f'"{REDIS_REQUIREMENT}"', json.dumps(dep, ensure_ascii=False)))
    code, text = outcome(run, sample_repo, "add", "redis", "--dry-run", "--bundle-path", str(bundles))
    assert code in (0, 2)
    if code == 2:
        assert "bundle.toml" in text
    assert secret.read_text() == SECRET


path_part = st.sampled_from(
    ["..", ".", "", "a", ".git", ".GIT", "git~1", "services", "secret", "/", "\\", "C:", "\0", " "]
)
lock_path = st.one_of(st.text(max_size=30), st.lists(path_part, max_size=6).map("/".join))


@EXAMPLES
@given(path=lock_path, ejected=st.booleans())
def test_lock_paths_never_reach_outside(
    sample_repo: Path, secret: Path, run, path: str, ejected: bool
) -> None:
    record = ComponentRecord("redis", "1.0.0", files={path: blob_id(b"pristine\n")},
                             ejected=[path] if ejected else [])
    try:
        text = Lock({"redis": record}).dumps()
    except TypeError:
        return
    (sample_repo / LOCK_NAME).write_text(text)
    git(sample_repo, "add", "-A")
    git(sample_repo, "commit", "-qm", "lock", "--allow-empty")
    for argv in (["verify"], ["verify", LOCK_NAME], ["status", "--json"],
                 ["remove", "redis", "--dry-run"]):
        _, shown = outcome(run, sample_repo, *argv)
        assert SECRET.strip() not in shown
    assert secret.read_text() == SECRET
    assert sorted(p.name for p in secret.parent.iterdir()) == ["app", "secret"]
