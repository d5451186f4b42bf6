"""Hostile sources and hostile source entries in the lock: refused, exit 2, nothing changed.

A source is someone else's repository: its bundle is checked like a local one (paths
stay inside the project, templates stay in the sandbox, links stay in the bundle),
and nothing of it runs. A lock's source entry is data too: a URL that would run a
command (`ext::`), or read as an option, never reaches git.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from paxx_patch.manifest import LOCK_NAME, ComponentRecord, Lock
from paxx_patch.manifest.source import SourcePin
from tests.conftest import ROOT, git, init_repo
from tests.test_hostile_input import SECRET, assert_refused

SHA = "0" * 40


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(path))
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret"
    path.write_text(SECRET)
    return path


def hostile_source(tmp_path: Path) -> tuple[Path, Path]:
    """A bundle repository with bundles/redis, to be spoilt by the test and then tagged."""
    repo = init_repo(tmp_path / "evil-bundles")
    bundle = repo / "bundles" / "redis"
    shutil.copytree(ROOT / "bundles" / "redis", bundle)
    return repo, bundle


def publish(repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "bundle")
    git(repo, "tag", "v1.0.0")


def test_a_source_bundle_writing_outside_the_project_is_refused(
    sample_repo: Path, tmp_path: Path, run, state
) -> None:
    repo, bundle = hostile_source(tmp_path)
    toml = bundle / "bundle.toml"
    toml.write_text(toml.read_text().replace('"cache.py" = ', '"../../escaped.py" = '))
    publish(repo)
    err = assert_refused(run, state, sample_repo, "add", "redis", "--from", str(repo), "--commit",
                         expect="climbs out")
    assert str(repo) in err and "bundles/redis/bundle.toml" in err
    assert not (tmp_path / "escaped.py").exists()


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # the sandbox refuses dunder access
    "{% include '../../../../secret' %}",  # the loader refuses climbing out
    "{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}",
])
def test_a_source_template_escaping_the_sandbox_is_refused(
    sample_repo: Path, tmp_path: Path, secret: Path, run, state, template: str
) -> None:
    repo, bundle = hostile_source(tmp_path)
    (bundle / "templates" / "cache.py.j2").write_text(template + "\n")
    publish(repo)
    err = assert_refused(run, state, sample_repo, "add", "redis", "--from", str(repo), "--commit",
                         expect="cannot render the template")
    assert SECRET.strip() not in err
    assert not (sample_repo / "pwned").exists() and not Path("pwned").exists()


def test_a_source_symlink_leading_out_is_refused(
    sample_repo: Path, tmp_path: Path, secret: Path, run, state
) -> None:
    repo, bundle = hostile_source(tmp_path)
    template = bundle / "templates" / "cache.py.j2"
    template.unlink()
    template.symlink_to(secret)
    publish(repo)
    err = assert_refused(run, state, sample_repo, "add", "redis", "--from", str(repo), "--commit",
                         expect="symbolic link")
    assert SECRET.strip() not in err


@pytest.mark.parametrize("spec", ["ext::sh -c touch% pwned", "--upload-pack=touch pwned",
                                  "fd::0", "gopher://example.com/repo"])
def test_a_source_url_that_could_run_a_command_is_refused(sample_repo: Path, run, state, spec: str) -> None:
    assert_refused(run, state, sample_repo, "add", "redis", f"--from={spec}", "--commit",
                   expect="--from")
    assert not (sample_repo / "pwned").exists()


@pytest.mark.parametrize("rev", ["-x", "a..b", "HEAD~1", "v1 ; rm", "main.lock"])
def test_a_bad_revision_is_refused(sample_repo: Path, tmp_path: Path, run, state, rev: str) -> None:
    repo, _ = hostile_source(tmp_path)
    publish(repo)
    assert_refused(run, state, sample_repo, "add", "redis", "--from", str(repo), f"--rev={rev}",
                   "--commit", expect="revision")


def test_a_named_source_that_is_no_url_is_refused(sample_repo: Path, run, state) -> None:
    pyproject = sample_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.paxx-patch.sources]\nours = "ext::sh -c x"\n')
    git(sample_repo, "commit", "-qam", "sources")
    assert_refused(run, state, sample_repo, "add", "redis", "--from", "ours", "--commit",
                   expect="[tool.paxx-patch.sources] ours")


def lock_with_source(repo: Path, source: dict[str, object] | str) -> None:
    """The lock of an installed redis, with `source` as its source entry."""
    text = Lock({"redis": ComponentRecord("redis", "1.0.0", source=SourcePin(
        "../bundles", "v1.0.0", SHA))}).dumps()
    good = f'\n[components.redis.source]\ncommit = "{SHA}"\nrev = "v1.0.0"\nurl = "../bundles"\n'
    assert good in text
    if isinstance(source, str):  # a plain value instead of a table
        text = text.replace(good, "").replace('version = "1.0.0"\n', f'source = "{source}"\nversion = "1.0.0"\n')
    else:
        lines = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in source.items())
        text = text.replace(good, f"\n[components.redis.source]\n{lines}")
    (repo / LOCK_NAME).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lock")


@pytest.mark.parametrize(("source", "expect"), [
    ({"url": "ext::sh -c touch% pwned", "rev": "v1.0.0", "commit": SHA}, "remote helper"),
    ({"url": "--upload-pack=touch pwned", "rev": "v1.0.0", "commit": SHA}, "as an option"),
    ({"url": "../bundles", "rev": "--output=x", "commit": SHA}, "source.rev"),
    ({"url": "../bundles", "rev": "v1.0.0", "commit": "HEAD"}, "not a git commit id"),
    ({"url": "../bundles", "rev": "v1.0.0"}, "exactly url, rev and commit"),
    ({"url": "../bundles", "rev": "v1.0.0", "commit": SHA, "run": "x"}, "exactly url, rev and commit"),
    ("https://example.com/x.git", "must be a table"),
])
def test_a_malformed_source_in_the_lock_is_refused(
    sample_repo: Path, run, state, source: dict[str, object] | str, expect: str
) -> None:
    lock_with_source(sample_repo, source)
    for argv in (("update", "redis", "--commit"), ("remove", "redis", "--commit"), ("check",),
                 ("verify",)):
        out = assert_refused(run, state, sample_repo, *argv, expect=expect)
        assert "components.redis.source" in out and f"{LOCK_NAME}:" in out
    assert not (sample_repo / "pwned").exists()


def test_a_lock_pinning_a_commit_the_source_lacks(sample_repo: Path, tmp_path: Path, run, state) -> None:
    repo, _ = hostile_source(tmp_path)
    publish(repo)
    code, _, err = run(sample_repo, "add", "redis", "--from", "../evil-bundles", "--commit")
    assert code == 0, err
    lock = sample_repo / LOCK_NAME
    commit = git(repo, "rev-parse", "HEAD").strip()
    lock.write_text(lock.read_text().replace(commit, "1" * 40))
    git(sample_repo, "commit", "-qam", "lock edited")
    assert_refused(run, state, sample_repo, "remove", "redis", "--commit",
                   expect="no longer has commit 111111111111")
