"""update and remove as three-way merges; conflicts are ordinary git conflicts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import (
    DOCSTRING,
    NEW_DOCSTRING,
    REDIS_NEWER,
    REDIS_REQUIREMENT,
    REDIS_VERSION,
    git,
)

_MAJOR, _MINOR, _ = (int(part) for part in REDIS_VERSION.split("."))
NEWER = REDIS_NEWER  # the `newer` fixture's bundle, and one newer still
NEWEST = f"{_MAJOR}.{_MINOR + 2}.0"


def installed(repo: Path, run) -> Path:
    code, _out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, err
    return repo / "services" / "cache.py"


def lock_version(repo: Path) -> str:
    import tomllib

    return tomllib.loads((repo / "paxx-patch.lock").read_text())["components"]["redis"]["version"]


def edit(path: Path, old: str, new: str, repo: Path, message: str = "user edit") -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    git(repo, "commit", "-qam", message)


def test_update_merges_with_a_users_edit_elsewhere(sample_repo: Path, newer: Path, run) -> None:
    cache = installed(sample_repo, run)
    edit(cache, "async def close_redis() -> None:", "async def close_redis() -> None:  # mine", sample_repo)
    code, _out, err = run(sample_repo, "update", "redis", "--commit", "--bundle-path", str(newer))
    assert code == 0, err
    text = cache.read_text()
    assert NEW_DOCSTRING in text and "# mine" in text
    assert lock_version(sample_repo) == NEWER
    assert git(sample_repo, "status", "--porcelain") == ""
    # the lock records the new pristine render, so verify-style checks keep working
    from paxx_patch.manifest import blob_id, parse_lock

    lock = parse_lock((sample_repo / "paxx-patch.lock").read_text())
    pristine = lock.components["redis"].files["services/cache.py"]
    assert git(sample_repo, "cat-file", "-p", pristine).count(NEW_DOCSTRING) == 1
    assert blob_id(cache.read_bytes()) != pristine  # the user's edit is still theirs


def test_update_conflict_then_abort_restores_everything(sample_repo: Path, newer: Path, run) -> None:
    cache = installed(sample_repo, run)
    edit(cache, DOCSTRING, '"""Mine: the cached value."""', sample_repo)
    head = git(sample_repo, "rev-parse", "HEAD")
    code, _out, err = run(sample_repo, "update", "redis", "--commit", "--bundle-path", str(newer))
    assert code == 1
    assert "services/cache.py" in err and "cherry-pick --abort" in err
    assert git(sample_repo, "diff", "--name-only", "--diff-filter=U").split() == ["services/cache.py"]
    assert "<<<<<<<" in cache.read_text()
    assert "services/cache.py" in git(sample_repo, "status")
    git(sample_repo, "cherry-pick", "--abort")
    assert git(sample_repo, "rev-parse", "HEAD") == head
    assert git(sample_repo, "status", "--porcelain") == ""
    assert lock_version(sample_repo) == REDIS_VERSION


def test_update_conflict_resolved_and_continued_moves_the_lock(sample_repo: Path, newer: Path, run) -> None:
    cache = installed(sample_repo, run)
    edit(cache, DOCSTRING, '"""Mine: the cached value."""', sample_repo)
    assert run(sample_repo, "update", "redis", "--commit", "--bundle-path", str(newer))[0] == 1
    assert lock_version(sample_repo) == REDIS_VERSION
    text = cache.read_text()
    start, end = text.index("<<<<<<<"), text.index(">>>>>>>")
    end = text.index("\n", end) + 1
    cache.write_text(text[:start] + '    """Mine, merged."""\n' + text[end:])
    git(sample_repo, "add", "services/cache.py")
    proc = subprocess.run(["git", "-c", "core.editor=true", "cherry-pick", "--continue"],
                          cwd=sample_repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert lock_version(sample_repo) == NEWER
    assert git(sample_repo, "status", "--porcelain") == ""


def test_update_brings_new_setting_and_dependency(sample_repo: Path, newer: Path, run) -> None:
    installed(sample_repo, run)
    toml = newer / "redis" / "bundle.toml"
    toml.write_text(toml.read_text().replace(
        f'dependencies = ["{REDIS_REQUIREMENT}"]', f'dependencies = ["{REDIS_REQUIREMENT}", "hiredis>=2.0"]',
    ) + '\n[[settings]]\nname = "redis_pool_size"\ntype = "int"\ndefault = 10\n')
    edit(sample_repo / "settings.py", 'app_name: str = "shop"', 'app_name: str = "my-shop"', sample_repo)
    edit(sample_repo / "pyproject.toml", '"asyncpg>=0.29",', '"asyncpg>=0.30",', sample_repo)
    code, _out, err = run(sample_repo, "update", "redis", "--commit", "--bundle-path", str(newer))
    assert code == 0, err
    settings = (sample_repo / "settings.py").read_text()
    assert "redis_pool_size: int = 10" in settings and '"my-shop"' in settings
    pyproject = (sample_repo / "pyproject.toml").read_text()
    assert '"hiredis>=2.0",' in pyproject and '"asyncpg>=0.30",' in pyproject
    lock = (sample_repo / "paxx-patch.lock").read_text()
    assert '"redis_pool_size"' in lock and '"hiredis>=2.0"' in lock and '"redis_url"' in lock


def test_update_as_patch_series_applies_on_a_fresh_clone(sample_repo: Path, newer: Path, tmp_path: Path, run) -> None:
    cache = installed(sample_repo, run)
    edit(cache, "async def close_redis() -> None:", "async def close_redis() -> None:  # mine", sample_repo)
    patches = tmp_path / "series"
    code, _out, err = run(sample_repo, "update", "redis", "-o", str(patches), "--bundle-path", str(newer))
    assert code == 0, err
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(sample_repo), str(clone))
    proc = subprocess.run(["git", "-c", "user.name=A", "-c", "user.email=a@b.c", "am", "-3",
                           *map(str, sorted(patches.glob("*.patch")))], cwd=clone, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = (clone / "services" / "cache.py").read_text()
    assert NEW_DOCSTRING in text and "# mine" in text


def test_update_with_nothing_to_do_is_a_no_op(sample_repo: Path, run) -> None:
    installed(sample_repo, run)
    head = git(sample_repo, "rev-parse", "HEAD")
    code, out, _err = run(sample_repo, "update", "redis", "--commit")
    assert code == 0 and "up to date" in out
    assert git(sample_repo, "rev-parse", "HEAD") == head


def test_downgrade_is_refused_unless_allowed(sample_repo: Path, newer: Path, run) -> None:
    assert run(sample_repo, "add", "redis", "--commit", "--bundle-path", str(newer))[0] == 0
    code, _out, err = run(sample_repo, "update", "redis", "--commit")
    assert code == 2 and "--allow-downgrade" in err
    code, _out, err = run(sample_repo, "update", "redis", "--commit", "--allow-downgrade")
    assert code == 0, err
    assert lock_version(sample_repo) == REDIS_VERSION


def test_update_refuses_uncommitted_changes_in_touched_files(sample_repo: Path, newer: Path, run) -> None:
    cache = installed(sample_repo, run)
    cache.write_text(cache.read_text() + "# uncommitted\n")
    code, _out, err = run(sample_repo, "update", "redis", "--commit", "--bundle-path", str(newer))
    assert code == 2 and "uncommitted" in err
    assert cache.read_text().endswith("# uncommitted\n")


def test_remove_all_components_gives_back_the_original_tree(sample_repo: Path, run) -> None:
    original = git(sample_repo, "rev-parse", "HEAD^{tree}")
    code, _out, err = run(sample_repo, "add", "redis", "storage", "metrics", "--commit")
    assert code == 0, err
    code, _out, err = run(sample_repo, "remove", "redis", "storage", "metrics", "--commit")
    assert code == 0, err
    assert git(sample_repo, "rev-parse", "HEAD^{tree}") == original
    assert git(sample_repo, "status", "--porcelain") == ""


def test_the_package_init_stays_while_another_component_has_modules_beside_it(
    sample_repo: Path, run
) -> None:
    original = git(sample_repo, "rev-parse", "HEAD^{tree}")
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0  # creates services/__init__.py
    assert run(sample_repo, "add", "storage", "--commit")[0] == 0
    code, out, err = run(sample_repo, "remove", "redis", "--commit")
    assert code == 0, out + err
    assert sorted(p.name for p in (sample_repo / "services").iterdir()) == ["__init__.py", "storage.py"]
    lock = (sample_repo / "paxx-patch.lock").read_text()
    assert '"services/__init__.py"' in lock.split("[components.storage.files]")[1]
    init = sample_repo / "services" / "__init__.py"
    made = init.read_bytes()
    init.write_text("# edited\n")  # still checked: storage owns it now
    assert run(sample_repo, "verify", "services/__init__.py")[0] == 1
    init.write_bytes(made)
    assert run(sample_repo, "remove", "storage", "--commit")[0] == 0
    assert git(sample_repo, "rev-parse", "HEAD^{tree}") == original


def test_removing_two_components_at_once_takes_the_shared_init_too(sample_repo: Path, run) -> None:
    original = git(sample_repo, "rev-parse", "HEAD^{tree}")
    assert run(sample_repo, "add", "redis", "storage", "--commit")[0] == 0
    assert run(sample_repo, "remove", "storage", "redis", "--commit")[0] == 0
    assert git(sample_repo, "rev-parse", "HEAD^{tree}") == original


def test_remove_after_a_user_edit_is_a_modify_delete_conflict(sample_repo: Path, run) -> None:
    cache = installed(sample_repo, run)
    edit(cache, "async def close_redis() -> None:", "async def close_redis() -> None:  # mine", sample_repo)
    code, _out, _err = run(sample_repo, "remove", "redis", "--commit")
    assert code == 1
    status = git(sample_repo, "status", "--porcelain")
    assert "UD services/cache.py" in status or "DU services/cache.py" in status
    assert "# mine" in cache.read_text()
    git(sample_repo, "cherry-pick", "--abort")
    assert "# mine" in cache.read_text()


def test_remove_of_a_component_not_installed(sample_repo: Path, run) -> None:
    code, _out, err = run(sample_repo, "remove", "redis", "--commit")
    assert code == 2 and "not installed" in err


def test_update_repins_a_changed_dependency(sample_repo: Path, newer: Path, run) -> None:
    installed(sample_repo, run)
    toml = newer / "redis" / "bundle.toml"
    toml.write_text(toml.read_text().replace(f'dependencies = ["{REDIS_REQUIREMENT}"]', 'dependencies = ["redis>=5.2"]'))
    edit(sample_repo / "pyproject.toml", '"asyncpg>=0.29",', '"asyncpg>=0.30",', sample_repo)
    code, _out, err = run(sample_repo, "update", "redis", "--commit", "--bundle-path", str(newer))
    assert code == 0, err
    pyproject = (sample_repo / "pyproject.toml").read_text()
    assert '"redis>=5.2",' in pyproject and f'"{REDIS_REQUIREMENT}"' not in pyproject
    assert '"asyncpg>=0.30",' in pyproject
    lock = (sample_repo / "paxx-patch.lock").read_text()
    assert 'added = ["redis>=5.2"]' in lock and "replaced" not in lock
    assert f"update redis>=5.2 (was {REDIS_REQUIREMENT}) in pyproject.toml" in git(sample_repo, "log", "--format=%s")
    # and remove takes out the pin as it now stands
    assert run(sample_repo, "remove", "redis", "--commit")[0] == 0
    assert "redis" not in (sample_repo / "pyproject.toml").read_text()


def test_update_on_a_new_branch_merges_without_touching_the_checkout(
    sample_repo: Path, newer: Path, run, state,
) -> None:
    cache = installed(sample_repo, run)
    edit(cache, "async def close_redis() -> None:", "async def close_redis() -> None:  # mine", sample_repo)
    before = state(sample_repo)
    code, _out, err = run(sample_repo, "update", "redis", "--branch", "redis-1.1", "--bundle-path", str(newer))
    assert code == 0, err
    after = state(sample_repo)
    after.pop(".git/refs/heads/redis-1.1")
    after.pop(".git/logs/refs/heads/redis-1.1", None)
    assert after == before
    merged = git(sample_repo, "show", "redis-1.1:services/cache.py")
    assert NEW_DOCSTRING in merged and "# mine" in merged
    assert f'version = "{NEWER}"' in git(sample_repo, "show", "redis-1.1:paxx-patch.lock")


def test_update_on_a_new_branch_refuses_conflicts(sample_repo: Path, newer: Path, run, state) -> None:
    cache = installed(sample_repo, run)
    edit(cache, DOCSTRING, '"""Mine: the cached value."""', sample_repo)
    before = state(sample_repo)
    code, _out, err = run(sample_repo, "update", "redis", "--branch", "redis-1.1", "--bundle-path", str(newer))
    assert code == 1 and "--commit" in err
    assert state(sample_repo) == before


def test_update_dry_run_shows_the_change_and_writes_nothing(sample_repo: Path, newer: Path, run) -> None:
    cache = installed(sample_repo, run)
    edit(cache, "async def close_redis() -> None:", "async def close_redis() -> None:  # mine", sample_repo)

    def everything() -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in sorted(sample_repo.rglob("*")) if p.is_file()}

    before = everything()
    code, out, err = run(sample_repo, "update", "redis", "--dry-run", "--bundle-path", str(newer))
    assert code == 0, err
    assert f"+    {NEW_DOCSTRING}" in out and f"-    {DOCSTRING}" in out
    assert everything() == before


def test_pristine_render_survives_gc_for_the_next_update(sample_repo: Path, newer: Path, tmp_path: Path, run) -> None:
    """After a merged update no branch holds the new pristine render; a ref must."""
    cache = installed(sample_repo, run)
    edit(cache, "async def close_redis() -> None:", "async def close_redis() -> None:  # mine", sample_repo)
    assert run(sample_repo, "update", "redis", "--commit", "--bundle-path", str(newer))[0] == 0
    git(sample_repo, "reflog", "expire", "--expire=now", "--all")
    git(sample_repo, "gc", "-q", "--prune=now")
    from paxx_patch.manifest import parse_lock

    pristine = parse_lock((sample_repo / "paxx-patch.lock").read_text()).components["redis"].files["services/cache.py"]
    assert git(sample_repo, "cat-file", "-t", pristine) == "blob\n"
    # a NEWEST changing another spot merges against that pristine NEWER render
    newest = tmp_path / "newest"
    shutil.copytree(newer, newest)
    toml = newest / "redis" / "bundle.toml"
    toml.write_text(toml.read_text().replace(f'version = "{NEWER}"', f'version = "{NEWEST}"'))
    template = newest / "redis" / "templates" / "cache.py.j2"
    template.write_text(template.read_text().replace('"""Delete `key`; True when it existed.', '"""Delete `key`.'))
    code, _out, err = run(sample_repo, "update", "redis", "--commit", "--bundle-path", str(newest))
    assert code == 0, err
    text = cache.read_text()
    assert '"""Delete `key`.\n' in text and NEW_DOCSTRING in text and "# mine" in text
    assert lock_version(sample_repo) == NEWEST


def test_update_with_nothing_installed_says_so(sample_repo: Path, run) -> None:
    code, out, _err = run(sample_repo, "update", "--commit")
    assert code == 0 and "no components are installed" in out
