"""Commits honour the repository's signing configuration (`commit.gpgsign`): signed as
git signs them, or refused with a clear message and nothing changed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REDIS_COMMITS, git
from tests.test_cleanup import git_dir_bytes

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")


@pytest.fixture
def signing_repo(sample_repo: Path, tmp_path: Path) -> Path:
    """The sample repository, asking for ssh signatures with a key of its own."""
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(key)],
                   check=True)
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"test@example.com {key.with_suffix('.pub').read_text()}")
    for name, value in (("gpg.format", "ssh"), ("user.signingkey", str(key)),
                        ("commit.gpgsign", "true"), ("gpg.ssh.allowedSignersFile", str(signers))):
        git(sample_repo, "config", name, value)
    return sample_repo


def assert_signed(repo: Path, commits: str) -> None:
    shas = git(repo, "rev-list", commits).split()
    assert len(shas) == REDIS_COMMITS
    for sha in shas:
        assert "gpgsig" in git(repo, "cat-file", "commit", sha)
        git(repo, "verify-commit", sha)  # a good signature by the allowed key


def test_commits_landed_on_the_branch_are_signed(signing_repo: Path, run) -> None:
    head = git(signing_repo, "rev-parse", "HEAD").strip()
    code, _out, err = run(signing_repo, "add", "redis", "--commit")
    assert code == 0, err
    assert_signed(signing_repo, f"{head}..HEAD")
    assert git(signing_repo, "status", "--porcelain") == ""
    subjects = git(signing_repo, "log", "--format=%s", f"{head}..HEAD").splitlines()
    assert subjects[-1].startswith("paxx(redis): add services/")  # the same chain, in order


def test_a_new_branch_is_signed(signing_repo: Path, run) -> None:
    code, _out, err = run(signing_repo, "add", "redis", "--branch", "cache")
    assert code == 0, err
    assert_signed(signing_repo, "main..cache")


def test_a_signature_that_cannot_be_made_is_refused(signing_repo: Path, run) -> None:
    git(signing_repo, "config", "gpg.ssh.program", "false")
    before = git_dir_bytes(signing_repo)
    code, _out, err = run(signing_repo, "add", "redis", "--commit")
    assert code == 2, err
    assert "commit.gpgsign" in err and "could not sign" in err and "Nothing was changed" in err
    assert "Traceback" not in err
    assert git_dir_bytes(signing_repo) == before


def test_a_patch_series_needs_no_signature(signing_repo: Path, tmp_path: Path, run) -> None:
    git(signing_repo, "config", "gpg.ssh.program", "false")
    code, _out, err = run(signing_repo, "add", "redis", "-o", str(tmp_path / "series"))
    assert code == 0, err
    assert len(list((tmp_path / "series").glob("*.patch"))) == REDIS_COMMITS


def test_an_update_carried_over_a_user_edit_is_signed(signing_repo: Path, newer: Path, run) -> None:
    assert run(signing_repo, "add", "redis", "--commit")[0] == 0
    cache = signing_repo / "services" / "cache.py"
    cache.write_text(cache.read_text().replace("async def close_redis() -> None:",
                                               "async def close_redis() -> None:  # mine", 1))
    git(signing_repo, "commit", "-qam", "user edit")
    head = git(signing_repo, "rev-parse", "HEAD").strip()
    code, _out, err = run(signing_repo, "update", "redis", "--commit", "--bundle-path", str(newer))
    assert code == 0, err
    shas = git(signing_repo, "rev-list", f"{head}..HEAD").split()
    assert shas
    for sha in shas:
        git(signing_repo, "verify-commit", sha)
