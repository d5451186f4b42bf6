"""Components from git repositories: add --from, the pin in the lock, update, check.

The sources are local git repositories made here, holding the redis bundle under
bundles/redis/ with tags v1.0.0 and v1.1.0 (v1.1.0 rewords one docstring).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REDIS_VERSION, ROOT, git, init_repo

DOCSTRING = '"""Return the JSON value stored under `key`, or None when there is none."""'
NEW_DOCSTRING = '"""The JSON value under `key` (None when absent)."""'


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The source cache lives in the test's own directory."""
    path = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(path))
    return path


def commit_all(repo: Path, message: str, tag: str | None = None) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    if tag:
        git(repo, "tag", "-a", tag, "-m", tag)
    return git(repo, "rev-parse", "HEAD").strip()


def set_version(bundle: Path, version: str) -> None:
    toml = bundle / "bundle.toml"
    text, found = re.subn(r'(?m)^version = "[^"]*"$', f'version = "{version}"',
                          toml.read_text(), count=1)
    assert found == 1
    toml.write_text(text)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A bundle repository: bundles/redis at v1.0.0, then v1.1.0 with a new docstring."""
    repo = init_repo(tmp_path / "bundles-repo")
    bundle = repo / "bundles" / "redis"
    shutil.copytree(ROOT / "bundles" / "redis", bundle)
    set_version(bundle, "1.0.0")
    commit_all(repo, "redis 1.0.0", "v1.0.0")
    template = bundle / "templates" / "cache.py.j2"
    assert DOCSTRING in template.read_text()
    template.write_text(template.read_text().replace(DOCSTRING, NEW_DOCSTRING))
    set_version(bundle, "1.1.0")
    commit_all(repo, "redis 1.1.0", "v1.1.0")
    return repo


def lock_of(repo: Path) -> dict[str, object]:
    data = tomllib.loads((repo / "paxx-patch.lock").read_text())
    return data["components"]["redis"]  # type: ignore[no-any-return]


def tag_commit(repo: Path, tag: str) -> str:
    return git(repo, "rev-parse", f"{tag}^{{commit}}").strip()


def added(sample_repo: Path, source: Path, run, rev: str = "@v1.0.0") -> Path:
    code, _out, err = run(sample_repo, "add", "redis", "--from", f"../bundles-repo{rev}", "--commit")
    assert code == 0, err
    return sample_repo / "services" / "cache.py"


def test_add_from_a_source_pins_url_rev_and_commit(sample_repo: Path, source: Path, run) -> None:
    cache = added(sample_repo, source, run)
    assert DOCSTRING in cache.read_text()
    record = lock_of(sample_repo)
    assert record["version"] == "1.0.0"
    assert record["source"] == {"url": "../bundles-repo", "rev": "v1.0.0",
                                "commit": tag_commit(source, "v1.0.0")}
    assert git(sample_repo, "status", "--porcelain") == ""
    assert run(sample_repo, "verify")[0] == 0


def test_add_without_a_revision_takes_the_newest_release_tag(
    sample_repo: Path, source: Path, run
) -> None:
    git(source, "tag", "v1.2.0-rc1")  # a pre-release is taken only when named
    cache = added(sample_repo, source, run, rev="")
    assert NEW_DOCSTRING in cache.read_text()
    assert lock_of(sample_repo)["source"] == {  # type: ignore[comparison-overlap]
        "url": "../bundles-repo", "rev": "v1.1.0", "commit": tag_commit(source, "v1.1.0")}


def test_add_at_a_branch_and_at_a_commit(sample_repo: Path, source: Path, tmp_path: Path, run) -> None:
    first = tag_commit(source, "v1.0.0")
    added(sample_repo, source, run, rev=f"@{first}")
    assert lock_of(sample_repo)["source"]["commit"] == first  # type: ignore[index]
    other = init_repo(tmp_path / "other", Path(ROOT / "paxx_patch" / "sample"))
    code, _, err = run(other, "add", "redis", "--from", str(source), "--rev", "main", "--commit")
    assert code == 0, err
    record = lock_of(other)["source"]
    assert record == {"url": source.as_posix(), "rev": "main",  # type: ignore[comparison-overlap]
                      "commit": tag_commit(source, "v1.1.0")}


def test_verify_passes_on_a_fresh_clone_with_an_empty_cache(
    sample_repo: Path, source: Path, tmp_path: Path, cache: Path, run
) -> None:
    added(sample_repo, source, run)
    shutil.rmtree(cache)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(sample_repo), str(clone))
    assert run(clone, "verify")[0] == 0
    # a render from the pinned commit (remove) fetches the source again
    code, _, err = run(clone, "remove", "redis", "--dry-run")
    assert code == 0, err
    assert (cache / "paxx-patch" / "repos").is_dir()


def test_remove_offline_with_an_empty_cache_says_how_to_fix(
    sample_repo: Path, source: Path, cache: Path, run, state
) -> None:
    added(sample_repo, source, run)
    shutil.rmtree(cache)
    before = state(sample_repo)
    code, _, err = run(sample_repo, "remove", "redis", "--commit", "--offline")
    assert code == 2
    assert "without --offline" in err
    assert state(sample_repo) == before


def test_update_to_the_newest_tag_merges_a_user_edit(sample_repo: Path, source: Path, run) -> None:
    cache = added(sample_repo, source, run)
    text = cache.read_text()
    cache.write_text(text.replace("async def close_redis() -> None:",
                                  "async def close_redis() -> None:  # mine", 1))
    git(sample_repo, "commit", "-qam", "user edit")
    code, _out, err = run(sample_repo, "update", "redis", "--commit")
    assert code == 0, err
    text = cache.read_text()
    assert NEW_DOCSTRING in text and "# mine" in text
    record = lock_of(sample_repo)
    assert record["version"] == "1.1.0"
    assert record["source"] == {"url": "../bundles-repo", "rev": "v1.1.0",
                                "commit": tag_commit(source, "v1.1.0")}
    assert git(sample_repo, "status", "--porcelain") == ""
    # and again: nothing to do
    head = git(sample_repo, "rev-parse", "HEAD")
    code, out, err = run(sample_repo, "update", "redis", "--commit")
    assert code == 0, err
    assert "up to date" in out
    assert git(sample_repo, "rev-parse", "HEAD") == head


def test_update_conflict_stops_like_a_cherry_pick(sample_repo: Path, source: Path, run) -> None:
    cache = added(sample_repo, source, run)
    cache.write_text(cache.read_text().replace(DOCSTRING, '"""Mine: the cached value."""'))
    git(sample_repo, "commit", "-qam", "user edit")
    head = git(sample_repo, "rev-parse", "HEAD")
    code, _out, err = run(sample_repo, "update", "redis", "--commit")
    assert code == 1
    assert "services/cache.py" in err and "cherry-pick --abort" in err
    assert git(sample_repo, "diff", "--name-only", "--diff-filter=U").split() == ["services/cache.py"]
    assert lock_of(sample_repo)["version"] == "1.0.0"
    git(sample_repo, "cherry-pick", "--abort")
    assert git(sample_repo, "rev-parse", "HEAD") == head
    assert git(sample_repo, "status", "--porcelain") == ""


def test_update_to_a_chosen_rev_and_downgrade(sample_repo: Path, source: Path, run) -> None:
    added(sample_repo, source, run, rev="")
    code, _, err = run(sample_repo, "update", "redis", "--rev", "v1.0.0", "--commit")
    assert code == 2 and "--allow-downgrade" in err
    code, _, err = run(sample_repo, "update", "redis", "--rev", "v1.0.0", "--allow-downgrade", "--commit")
    assert code == 0, err
    assert lock_of(sample_repo)["source"]["rev"] == "v1.0.0"  # type: ignore[index]


def test_update_from_switches_a_built_in_component_to_a_source(
    sample_repo: Path, source: Path, run
) -> None:
    code, _, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0, err
    assert "source" not in lock_of(sample_repo)
    # a release above the built-in bundle's, whatever that is: switching is no downgrade
    set_version(source / "bundles" / "redis", "9.0.0")
    commit_all(source, "redis 9.0.0", "v9.0.0")
    code, _, err = run(sample_repo, "update", "redis", "--from", "../bundles-repo@v9.0.0",
                       "--commit")
    assert code == 0, err
    assert lock_of(sample_repo)["source"]["rev"] == "v9.0.0"  # type: ignore[index]
    assert NEW_DOCSTRING in (sample_repo / "services" / "cache.py").read_text()


def test_check_exits_1_when_behind_and_0_after_the_update(sample_repo: Path, source: Path, run) -> None:
    added(sample_repo, source, run)
    code, out, _ = run(sample_repo, "check")
    assert code == 1
    assert "redis 1.0.0" in out and "1.1.0 (v1.1.0) is available" in out
    code, _, err = run(sample_repo, "update", "redis", "--commit")
    assert code == 0, err
    code, out, _ = run(sample_repo, "check")
    assert code == 0, out
    assert "up to date" in out


def test_check_json_key_by_key(sample_repo: Path, source: Path, run) -> None:
    added(sample_repo, source, run)
    code, out, _ = run(sample_repo, "check", "--json")
    assert code == 1
    report = json.loads(out)
    assert report == {
        "components": [{
            "name": "redis",
            "installed": "1.0.0",
            "source": {"url": "../bundles-repo", "rev": "v1.0.0",
                       "commit": tag_commit(source, "v1.0.0")},
            "latest": "1.1.0",
            "latest_rev": "v1.1.0",
            "latest_commit": tag_commit(source, "v1.1.0"),
            "behind": True,
        }],
        "behind": ["redis"],
        "offline": False,
    }


def test_check_of_a_built_in_component(sample_repo: Path, run) -> None:
    code, _, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0, err
    code, out, _ = run(sample_repo, "check", "--json")
    assert code == 0, out
    row = json.loads(out)["components"][0]
    assert row == {"name": "redis", "installed": REDIS_VERSION, "source": None,
                   "latest": REDIS_VERSION, "latest_rev": None, "latest_commit": None,
                   "behind": False}


def test_offline_with_a_cache_works_and_does_not_fetch(
    sample_repo: Path, source: Path, tmp_path: Path, run
) -> None:
    added(sample_repo, source, run)
    moved = tmp_path / "moved-away"
    source.rename(moved)  # the source is unreachable now
    code, out, err = run(sample_repo, "check", "--offline")
    assert code == 1, err
    assert "1.1.0" in out
    code, _, err = run(sample_repo, "update", "redis", "--offline", "--commit")
    assert code == 0, err
    assert lock_of(sample_repo)["version"] == "1.1.0"
    code, _, err = run(sample_repo, "check")  # online: the fetch fails
    assert code == 2 and "bundles-repo" in err


def test_unreachable_source_is_exit_2_and_changes_nothing(sample_repo: Path, tmp_path: Path, run) -> None:
    index = (sample_repo / ".git" / "index").read_bytes()
    head = git(sample_repo, "rev-parse", "HEAD")
    status = git(sample_repo, "status", "--porcelain")
    url = "file://" + (tmp_path / "no-such-repo").as_posix()
    code, _, err = run(sample_repo, "add", "redis", "--from", url, "--commit")
    assert code == 2
    assert url in err and "cannot fetch" in err and "Traceback" not in err
    assert git(sample_repo, "rev-parse", "HEAD") == head
    assert (sample_repo / ".git" / "index").read_bytes() == index
    assert git(sample_repo, "status", "--porcelain") == status
    assert not (tmp_path / "cache" / "paxx-patch" / "repos").exists() or not any(
        p.suffix == ".git" for p in (tmp_path / "cache" / "paxx-patch" / "repos").iterdir())


def test_unknown_revision_and_unknown_bundle(sample_repo: Path, source: Path, run, state) -> None:
    before = state(sample_repo)
    code, _, err = run(sample_repo, "add", "redis", "--from", "../bundles-repo@v9.9.9", "--commit")
    assert code == 2 and "v9.9.9" in err and "v1.1.0" in err
    code, _, err = run(sample_repo, "add", "nosuch", "--from", "../bundles-repo", "--commit")
    assert code == 2 and "no bundle 'nosuch'" in err and "redis" in err
    assert state(sample_repo) == before


def test_named_source_from_pyproject(sample_repo: Path, source: Path, run) -> None:
    pyproject = sample_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.paxx-patch.sources]\nours = "../bundles-repo"\n')
    git(sample_repo, "commit", "-qam", "bundle source")
    code, _, err = run(sample_repo, "add", "redis", "--from", "ours@v1.0.0", "--commit")
    assert code == 0, err
    assert lock_of(sample_repo)["source"] == {"url": "../bundles-repo", "rev": "v1.0.0",
                                              "commit": tag_commit(source, "v1.0.0")}


def test_bundle_at_the_repository_root(sample_repo: Path, tmp_path: Path, run) -> None:
    repo = init_repo(tmp_path / "our-logging")
    shutil.copytree(ROOT / "bundles" / "logging", repo, dirs_exist_ok=True)
    commit_all(repo, "logging", "2.0.0")
    code, _, err = run(sample_repo, "add", "logging", "--from", str(repo), "--commit")
    assert code == 0, err
    assert lock_of_any(sample_repo, "logging")["source"]["rev"] == "2.0.0"  # type: ignore[index]


def lock_of_any(repo: Path, name: str) -> dict[str, object]:
    return tomllib.loads((repo / "paxx-patch.lock").read_text())["components"][name]  # type: ignore[no-any-return]


def test_a_fetch_leaves_the_users_repository_alone(sample_repo: Path, source: Path, run) -> None:
    """The cache is its own bare repository: no remote, ref or object lands in the user's."""
    added(sample_repo, source, run)
    assert git(sample_repo, "remote") == ""
    refs = git(sample_repo, "for-each-ref", "--format=%(refname)")
    assert "refs/tags/" not in refs
    proc = subprocess.run(["git", "cat-file", "-e", tag_commit(source, "v1.1.0")], cwd=sample_repo)
    assert proc.returncode != 0


def test_status_shows_the_source_and_no_built_in_update(sample_repo: Path, source: Path, run) -> None:
    added(sample_repo, source, run)
    code, out, _ = run(sample_repo, "status", "--json")
    assert code == 0
    row = json.loads(out)["components"]["redis"]
    assert row["source"]["rev"] == "v1.0.0" and row["bundled_version"] is None
    assert row["update_available"] is False
    code, out, _ = run(sample_repo, "status")
    assert "redis 1.0.0 from ../bundles-repo at v1.0.0" in out


def test_update_from_needs_names(sample_repo: Path, source: Path, run, state) -> None:
    code, _, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0, err
    before = state(sample_repo)
    code, _, err = run(sample_repo, "update", "--from", "../bundles-repo", "--commit")
    assert code == 2 and "name the components" in err
    code, _, err = run(sample_repo, "update", "redis", "--rev", "v1.0.0", "--commit")
    assert code == 2 and "built-in bundles" in err
    assert state(sample_repo) == before


def test_help_shows_sources_check_and_bundle_check(run, tmp_path: Path, capsys) -> None:
    from paxx_patch.cli.main import main

    for argv, expect in ((["add", "--help"], "--from SOURCE[@REV]"), (["update", "--help"], "--rev REV"),
                         (["check", "--help"], "paxx-patch check --json"),
                         (["bundle", "check", "--help"], "docs/bundles.md")):
        assert main(argv) == 0
        assert expect in capsys.readouterr().out
