"""Hostile input: locks, bundles, values and repositories written to do harm.

Each case is one that was measured to read or write outside the project, to
inject text into a generated file, or to crash with an internal error. Now each
exits 2 (bad input) with a message naming the file, and changes nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from paxx_patch.manifest import LOCK_NAME, ComponentRecord, Lock, blob_id
from tests.conftest import (
    REDIS_NEWER,
    REDIS_REQUIREMENT,
    REDIS_VERSION,
    ROOT,
    SAMPLE,
    git,
    init_repo,
)

SECRET = "top-secret-sentinel-7f3a\n"


@pytest.fixture(autouse=True)
def fsck_after(tmp_path: Path) -> Iterator[None]:
    """Whatever a test made, the repository passes `git fsck --strict` afterwards."""
    yield
    for repo in (tmp_path / "app", tmp_path / "sha256"):
        if (repo / ".git").is_dir():
            proc = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo,
                                  capture_output=True, text=True)
            assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the repository that nothing may print or change."""
    path = tmp_path / "secret"
    path.write_text(SECRET)
    return path


def replaced(text: str, old: str, new: str) -> str:
    """`text` with `old` replaced, which must be there (else the test would test nothing)."""
    assert old in text, old
    return text.replace(old, new)


def write_lock(repo: Path, files: dict[str, str], ejected: list[str] | None = None,
               **entries: dict[str, object]) -> None:
    record = ComponentRecord("redis", "1.0.0", files=files, ejected=ejected or [],
                             entries=dict(entries))
    (repo / LOCK_NAME).write_text(Lock({"redis": record}).dumps())
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lock")


def assert_refused(run, state, repo: Path, *argv: str, expect: str) -> str:
    before = state(repo)
    code, out, err = run(repo, *argv)
    assert code == 2, (out, err)
    assert expect in err, err
    assert "Traceback" not in err and "internal error" not in err
    assert state(repo) == before
    return out + err


# 1. paths in the lock


@pytest.mark.parametrize("path", [
    "../secret", "services/../../secret", "/etc/passwd", ".git/config", ".GIT/config",
    "services/.git/x", "a\\..\\..\\secret", ".", "", "services/\0cache.py", "C:/x",
])
def test_lock_path_outside_the_project_is_refused(
    sample_repo: Path, secret: Path, run, state, path: str
) -> None:
    write_lock(sample_repo, {path: blob_id(b"x\n")})
    for argv in (["verify"], ["verify", LOCK_NAME], ["status"], ["eject", "redis"],
                 ["remove", "redis", "--commit"], ["update", "redis", "--commit"]):
        text = assert_refused(run, state, sample_repo, *argv, expect=LOCK_NAME)
        assert SECRET.strip() not in text
        assert "cat-file" not in text
        assert "git checkout HEAD -- paxx-patch.lock" in text
    assert secret.read_text() == SECRET


def test_lock_ejected_path_outside_is_refused(sample_repo: Path, secret: Path, run, state) -> None:
    write_lock(sample_repo, {}, ejected=["../secret"])
    assert_refused(run, state, sample_repo, "eject", "redis", expect="components.redis.ejected")


def test_lock_entry_file_into_git_dir_is_refused(sample_repo: Path, run, state) -> None:
    write_lock(sample_repo, {}, wiring={"file": ".git/hooks/pre-commit", "lines": []})
    assert_refused(run, state, sample_repo, "remove", "redis", "--commit",
                   expect="components.redis.wiring.file")


def test_lock_blob_id_that_is_not_one_is_refused(sample_repo: Path, run, state) -> None:
    # the id goes into a command verify prints for the user to paste
    write_lock(sample_repo, {"services/cache.py": "x; rm -rf ~"})
    assert_refused(run, state, sample_repo, "verify", expect="not a git blob id")


def test_symlinked_directory_leading_out_is_not_followed(
    sample_repo: Path, tmp_path: Path, run
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "cache.py").write_text(SECRET)
    write_lock(sample_repo, {"services/cache.py": blob_id(b"pristine\n")})
    (sample_repo / "services").symlink_to(outside)
    code, out, err = run(sample_repo, "verify")
    assert code == 1, err
    assert "services/cache.py (redis): missing" in out
    assert SECRET.strip() not in out + err
    code, out, err = run(sample_repo, "status", "--json")
    assert code == 0, err
    assert json.loads(out)["components"]["redis"]["missing"] == ["services/cache.py"]
    assert (outside / "cache.py").read_text() == SECRET


def test_shown_paths_are_shell_quoted(sample_repo: Path, run) -> None:
    name = "services/$(touch pwned).py"
    (sample_repo / "services").mkdir()
    (sample_repo / name).write_text("edited\n")
    write_lock(sample_repo, {name: blob_id(b"pristine\n")})
    code, out, _ = run(sample_repo, "verify")
    assert code == 1
    assert "git checkout HEAD -- 'services/$(touch pwned).py'" in out
    assert "eject redis 'services/$(touch pwned).py'" in out


# 1. bundles: symlinks and targets


def custom_bundle(tmp_path: Path, name: str = "redis") -> Path:
    root = tmp_path / "bundles"
    shutil.copytree(ROOT / "bundles" / name, root / name)
    return root


def test_template_symlink_out_of_the_bundle_is_refused(
    sample_repo: Path, tmp_path: Path, secret: Path, run, state
) -> None:
    bundles = custom_bundle(tmp_path)
    template = bundles / "redis" / "templates" / "cache.py.j2"
    template.unlink()
    template.symlink_to(secret)
    text = assert_refused(run, state, sample_repo, "add", "redis", "--commit",
                          "--bundle-path", str(bundles), expect="symbolic link")
    assert SECRET.strip() not in text


def test_an_unlisted_symlink_out_is_refused_too(
    sample_repo: Path, tmp_path: Path, secret: Path, run, state
) -> None:
    # a template could {% include %} it
    bundles = custom_bundle(tmp_path)
    (bundles / "redis" / "templates" / "extra").symlink_to(secret)
    assert_refused(run, state, sample_repo, "add", "redis", "--commit",
                   "--bundle-path", str(bundles), expect="leading out of the bundle")


def test_templates_dir_symlink_is_refused(sample_repo: Path, tmp_path: Path, run, state) -> None:
    bundles = custom_bundle(tmp_path)
    real = tmp_path / "real-templates"
    shutil.move(bundles / "redis" / "templates", real)
    (bundles / "redis" / "templates").symlink_to(real)
    assert_refused(run, state, sample_repo, "add", "redis", "--commit",
                   "--bundle-path", str(bundles), expect="templates is a symbolic link")


def test_symlink_inside_the_bundle_is_fine(sample_repo: Path, tmp_path: Path, run) -> None:
    bundles = custom_bundle(tmp_path)
    templates = bundles / "redis" / "templates"
    shutil.move(templates / "cache.py.j2", templates / "real.j2")
    (templates / "cache.py.j2").symlink_to("real.j2")
    code, _, err = run(sample_repo, "add", "redis", "--commit", "--bundle-path", str(bundles))
    assert code == 0, err
    git(sample_repo, "fsck", "--strict")


@pytest.mark.parametrize("target", [".", "..", "../x.py", ".git/hooks/post-commit",
                                    "sub/.Git/config", "/abs.py", "a\\u0000b.py", "", "dir/"])
def test_bad_template_target_is_refused(
    sample_repo: Path, tmp_path: Path, run, state, target: str
) -> None:
    bundles = custom_bundle(tmp_path)
    toml = bundles / "redis" / "bundle.toml"
    toml.write_text(toml.read_text().replace('"cache.py" = ', f'"{target}" = '))
    assert_refused(run, state, sample_repo, "add", "redis", "--commit",
                   "--bundle-path", str(bundles), expect="bundle.toml")


@pytest.mark.parametrize(("entry", "expect"), [
    ('"Postgres" = "postgis/postgis:{major}"', "compose_images.Postgres"),
    ('postgres = "postgis/postgis:{major}-{minor}"', "{major} and {alpine} the only placeholders"),
    ('postgres = "postgis/postgis:{major}\\n  privileged: true"', "compose_images.postgres"),
    ('postgres = "postgis postgis"', "compose_images.postgres"),
    ("postgres = 17", "`compose_images`: must be a table of strings"),
])
def test_bad_compose_image_swap_is_refused(
    sample_repo: Path, tmp_path: Path, run, state, entry: str, expect: str
) -> None:
    bundles = custom_bundle(tmp_path)
    toml = bundles / "redis" / "bundle.toml"
    toml.write_text(toml.read_text() + f"\n[compose_images]\n{entry}\n")
    assert_refused(run, state, sample_repo, "add", "redis", "--commit",
                   "--bundle-path", str(bundles), expect=expect)


# 2. values


def test_newline_in_a_set_value_cannot_add_keys(sample_repo: Path, run, state) -> None:
    err = assert_refused(run, state, sample_repo, "add", "storage", "--commit",
                         "--set", "bucket=x\n    privileged: true", expect="--set bucket")
    assert "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]" in err


@pytest.mark.parametrize("value", ["x; touch /tmp/pwned", "$(id)", "`id`", "UPPER", "a", "-rf"])
def test_bucket_outside_the_bundle_pattern_is_refused(
    sample_repo: Path, run, state, value: str
) -> None:
    assert_refused(run, state, sample_repo, "add", "storage", "--commit",
                   "--set", f"bucket={value}", expect="does not match the pattern")


def test_bucket_reaches_the_shell_through_the_environment(sample_repo: Path, run) -> None:
    import yaml  # the reader Compose users have; ruamel is what paxx-patch writes with

    code, _, err = run(sample_repo, "add", "storage", "--commit", "--set", "bucket=123")
    assert code == 0, err
    compose = yaml.safe_load((sample_repo / "docker-compose.yml").read_text())
    init = compose["services"]["minio-init"]
    assert init["environment"]["MINIO_BUCKET"] == "123"  # a string, not the number
    assert "123" not in init["command"][0]
    assert compose["services"]["app"]["environment"]["STORAGE_S3_BUCKET"] == "123"


def test_lock_variable_is_checked_like_a_set_value(sample_repo: Path, run, state) -> None:
    assert run(sample_repo, "add", "storage", "--commit")[0] == 0
    lock = sample_repo / LOCK_NAME
    lock.write_text(lock.read_text().replace('bucket = "uploads"', 'bucket = "x y"'))
    git(sample_repo, "commit", "-qam", "hand edit")
    assert_refused(run, state, sample_repo, "update", "storage", "--commit",
                   expect="components.storage.variables.bucket")


def test_permissive_pattern_still_gives_exact_scalars(sample_repo: Path, tmp_path: Path, run) -> None:
    import yaml

    bundles = custom_bundle(tmp_path, "storage")
    toml = bundles / "storage" / "bundle.toml"
    toml.write_text(toml.read_text().replace(
        'pattern = "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"', "pattern = '.*'"))
    compose_yaml = bundles / "storage" / "compose.yaml"
    compose_yaml.write_text(compose_yaml.read_text().replace(
        "    restart:", "    labels:\n      plain: {{ vars.bucket }}\n"
        "      single: 'b-{{ vars.bucket }}'\n      flow: [a, {{ vars.bucket }}]\n    restart:"))
    value = "x: y # z \"q' $(id) ['] yes"
    code, _, err = run(sample_repo, "add", "storage", "--commit", "--bundle-path", str(bundles),
                       "--set", f"bucket={value}")
    assert code == 0, err
    init = yaml.safe_load((sample_repo / "docker-compose.yml").read_text())["services"]["minio-init"]
    assert init["environment"]["MINIO_BUCKET"] == value
    assert init["labels"] == {"plain": value, "single": f"b-{value}", "flow": ["a", value]}
    assert "privileged" not in init
    git(sample_repo, "fsck", "--strict")


def test_old_string_form_of_a_variable_takes_the_default_pattern(
    sample_repo: Path, tmp_path: Path, run, state
) -> None:
    bundles = custom_bundle(tmp_path, "storage")
    toml = bundles / "storage" / "bundle.toml"
    text = toml.read_text()
    start = text.index("[variables.bucket]")
    end = text.index("[[settings]]")
    toml.write_text(text[:start] + '[variables]\nbucket = "uploads"\n\n' + text[end:])
    assert_refused(run, state, sample_repo, "add", "storage", "--commit", "--bundle-path",
                   str(bundles), "--set", "bucket=a b", expect="does not match the pattern")
    code, _, err = run(sample_repo, "add", "storage", "--commit", "--bundle-path", str(bundles),
                       "--set", "bucket=my-files")
    assert code == 0, err
    assert 'MINIO_BUCKET: "my-files"' in (sample_repo / "docker-compose.yml").read_text()


def test_bad_variable_declaration_names_the_key(sample_repo: Path, tmp_path: Path, run, state) -> None:
    bundles = custom_bundle(tmp_path, "storage")
    toml = bundles / "storage" / "bundle.toml"
    toml.write_text(toml.read_text().replace('default = "uploads"', 'default = "UP LOADS"'))
    assert_refused(run, state, sample_repo, "add", "storage", "--commit", "--bundle-path",
                   str(bundles), expect="`variables.bucket.default`")


@pytest.mark.parametrize(("setting", "said"), [
    ('default = "redis://localhost:6379/0"', 'default = "redis://localhost\\n:6379/0"'),
    ("default = 5.0", "default = inf"),
    ("default = 5.0", "default = nan"),
    ("default = 5.0", "default = true"),
])
def test_a_setting_default_that_cannot_be_written_is_the_bundles_fault(
    sample_repo: Path, tmp_path: Path, run, state, setting: str, said: str
) -> None:
    """Not blamed on the project's layout: the bundle's key is named."""
    bundles = custom_bundle(tmp_path)
    toml = bundles / "redis" / "bundle.toml"
    toml.write_text(toml.read_text().replace(setting, said, 1))
    err = assert_refused(run, state, sample_repo, "add", "redis", "--commit", "--bundle-path",
                         str(bundles), expect=".default")
    assert "layout" not in err


# 4. bad input exits 2, never 3


def commit_file(repo: Path, name: str, content: str | bytes) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"edit {name}")


def test_compose_services_as_a_list(sample_repo: Path, run, state) -> None:
    commit_file(sample_repo, "docker-compose.yml", "services:\n  - app\n  - db\n")
    assert_refused(run, state, sample_repo, "add", "redis", "--commit",
                   expect="docker-compose.yml:1: `services` must be a mapping")


def test_compose_top_level_list(sample_repo: Path, run, state) -> None:
    commit_file(sample_repo, "docker-compose.yml", "- services\n")
    assert_refused(run, state, sample_repo, "add", "redis", "--commit", expect="docker-compose.yml")


def test_deep_yaml(sample_repo: Path, run, state) -> None:
    commit_file(sample_repo, "docker-compose.yml", "services:\n  x: " + "[" * 20000 + "]" * 20000 + "\n")
    assert_refused(run, state, sample_repo, "add", "redis", "--commit", expect="docker-compose.yml")


def test_deep_toml_pyproject(sample_repo: Path, run, state) -> None:
    commit_file(sample_repo, "pyproject.toml", "x = " + "[" * 50000 + "]" * 50000 + "\n")
    assert_refused(run, state, sample_repo, "add", "redis", "--commit", expect="pyproject.toml")


def test_deep_toml_lock(sample_repo: Path, run, state) -> None:
    commit_file(sample_repo, LOCK_NAME, "x = " + "[" * 50000 + "]" * 50000 + "\n")
    for argv in (["verify"], ["status"], ["add", "redis", "--commit"]):
        assert_refused(run, state, sample_repo, *argv, expect=LOCK_NAME)


def test_deep_toml_bundle(sample_repo: Path, tmp_path: Path, run, state) -> None:
    bundles = custom_bundle(tmp_path)
    toml = bundles / "redis" / "bundle.toml"
    toml.write_text(toml.read_text() + "x = " + "[" * 50000 + "]" * 50000 + "\n")
    assert_refused(run, state, sample_repo, "add", "redis", "--commit", "--bundle-path",
                   str(bundles), expect="bundle.toml")


def test_huge_numbers(sample_repo: Path, tmp_path: Path, run, state) -> None:
    bundles = custom_bundle(tmp_path)
    toml = bundles / "redis" / "bundle.toml"
    original = toml.read_text()
    toml.write_text(replaced(original, f'version = "{REDIS_VERSION}"', f'version = "1.{"9" * 100000}.0"'))
    assert_refused(run, state, sample_repo, "add", "redis", "--commit", "--bundle-path",
                   str(bundles), expect="`version`")
    toml.write_text(replaced(original, f'"{REDIS_REQUIREMENT}"', f'"redis>={"9" * 100000}"'))
    assert_refused(run, state, sample_repo, "add", "redis", "--commit", "--bundle-path",
                   str(bundles), expect="`dependencies`")
    toml.write_text(original + f"\n[wiring]\nx = {'9' * 100000}\n")
    assert_refused(run, state, sample_repo, "add", "redis", "--commit", "--bundle-path",
                   str(bundles), expect="bundle.toml")
    commit_file(sample_repo, LOCK_NAME, f"format = {'9' * 100000}\n")
    assert_refused(run, state, sample_repo, "status", expect=LOCK_NAME)


def test_non_utf8_lock(sample_repo: Path, run, state) -> None:
    commit_file(sample_repo, LOCK_NAME, b"format = 1\n# \xff\xfe\n")
    for argv in (["verify"], ["status"], ["add", "redis", "--commit"], ["eject", "redis"]):
        assert_refused(run, state, sample_repo, *argv, expect=LOCK_NAME)


def test_lock_from_a_newer_paxx_patch(sample_repo: Path, run, state) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    lock = sample_repo / LOCK_NAME
    lock.write_text(lock.read_text().replace("format = 1", "format = 99"))
    git(sample_repo, "commit", "-qam", "from the future")
    for argv in (["verify"], ["status"], ["add", "storage", "--commit"],
                 ["update", "--commit"], ["remove", "redis", "--commit"], ["eject", "redis"]):
        err = assert_refused(run, state, sample_repo, *argv, expect="Upgrade paxx-patch")
        assert f"{LOCK_NAME}:3:" in err
    assert "format = 99" in lock.read_text()


def test_output_dir_that_is_a_file(sample_repo: Path, run, state) -> None:
    (sample_repo / "patches").write_text("mine\n")
    git(sample_repo, "add", "-A")
    git(sample_repo, "commit", "-qm", "a file")
    assert_refused(run, state, sample_repo, "add", "redis", "-o", "patches",
                   expect="exists and is not a directory")
    assert_refused(run, state, sample_repo, "add", "redis", "-o", "patches/sub",
                   expect="exists and is not a directory")


def test_closed_stdout_after_landing_exits_0(sample_repo: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "paxx_patch", "add", "redis", "storage", "--commit"],
                            cwd=sample_repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head -0`: the reader is gone before anything is written
    err = proc.stderr.read()
    assert proc.wait() == 0, err
    assert err == b""
    subjects = git(sample_repo, "log", "--format=%s").splitlines()
    storage = tomllib.loads((ROOT / "bundles" / "storage" / "bundle.toml").read_text())["version"]
    assert f"paxx(storage): record storage {storage} in paxx-patch.lock" in subjects


# 3. repositories


@pytest.fixture
def sha256_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "sha256"
    shutil.copytree(SAMPLE, repo, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    git(repo, "init", "-q", "--template=", "-b", "main", "--object-format=sha256")
    git(repo, "config", "user.name", "Test User")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    return repo


def test_sha256_repository_add_verify_update_remove(sha256_repo: Path, tmp_path: Path, run) -> None:
    repo = sha256_repo
    code, _, err = run(repo, "add", "redis", "storage", "--commit")
    assert code == 0, err
    ids = [v for c in json.loads(run(repo, "status", "--json")[1])["components"].values()
           for v in c["files"]]
    assert ids
    lock = (repo / LOCK_NAME).read_text()
    cache_id = git(repo, "rev-parse", "HEAD:services/cache.py").strip()
    assert len(cache_id) == 64 and cache_id in lock
    assert run(repo, "verify") == (0, "", "")
    (repo / "services" / "cache.py").write_text("# edited\n")
    assert run(repo, "verify")[0] == 1
    git(repo, "checkout", "--", "services/cache.py")
    bundles = custom_bundle(tmp_path)
    toml = bundles / "redis" / "bundle.toml"
    toml.write_text(replaced(toml.read_text(), f'version = "{REDIS_VERSION}"', f'version = "{REDIS_NEWER}"'))
    template = bundles / "redis" / "templates" / "cache.py.j2"
    template.write_text(template.read_text() + "\n# 1.1.0\n")
    code, _, err = run(repo, "update", "redis", "--commit", "--bundle-path", str(bundles))
    assert code == 0, err
    assert (repo / "services" / "cache.py").read_text().endswith("# 1.1.0\n")
    assert run(repo, "verify") == (0, "", "")
    code, _, err = run(repo, "remove", "redis", "storage", "--commit", "--bundle-path", str(bundles))
    assert code == 0, err
    assert not (repo / LOCK_NAME).exists()
    git(repo, "fsck", "--strict")


def test_autocrlf_verify_clean_after_add_and_edit_still_caught(sample_repo: Path, run) -> None:
    git(sample_repo, "config", "core.autocrlf", "true")
    code, _, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0, err
    cache = sample_repo / "services" / "cache.py"
    assert b"\r\n" in cache.read_bytes()  # git wrote the checkout with CRLF
    every = git(sample_repo, "ls-files").split()
    assert run(sample_repo, "verify") == (0, "", "")
    assert run(sample_repo, "verify", *every) == (0, "", "")
    info = json.loads(run(sample_repo, "status", "--json")[1])
    assert info["components"]["redis"]["modified"] == []
    cache.write_bytes(cache.read_bytes().replace(b"def ", b"def  ", 1))
    code, out, _ = run(sample_repo, "verify", *every)
    assert code == 1 and "services/cache.py (redis): modified" in out
    info = json.loads(run(sample_repo, "status", "--json")[1])
    assert info["components"]["redis"]["modified"] == ["services/cache.py"]


def test_eol_attribute_compares_as_git_does(sample_repo: Path, run) -> None:
    commit_file(sample_repo, ".gitattributes", "*.py text eol=crlf\n")
    code, _, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0, err
    assert b"\r\n" in (sample_repo / "services" / "cache.py").read_bytes()
    assert run(sample_repo, "verify") == (0, "", "")



def test_a_filtered_variable_in_compose_is_refused(sample_repo: Path, tmp_path: Path, run, state) -> None:
    bundles = custom_bundle(tmp_path, "storage")
    compose_yaml = bundles / "storage" / "compose.yaml"
    compose_yaml.write_text(compose_yaml.read_text().replace(
        'MINIO_BUCKET: "{{ vars.bucket }}"', "MINIO_BUCKET: {{ vars.bucket | lower }}"))
    assert_refused(run, state, sample_repo, "add", "storage", "--commit", "--bundle-path",
                   str(bundles), expect="transformed or tested")


def test_committed_symlinked_services_dir_is_not_written_through(
    sample_repo: Path, tmp_path: Path, run, state
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (sample_repo / "services").symlink_to(outside)
    git(sample_repo, "add", "services")
    git(sample_repo, "commit", "-qm", "services is a link")
    assert_refused(run, state, sample_repo, "add", "redis", "--commit",
                   expect="services is a symbolic link in your last commit")
    assert (sample_repo / "services").is_symlink() and list(outside.iterdir()) == []


def test_a_symbolic_link_beside_the_services_package_is_no_obstacle(tmp_path: Path, run) -> None:
    # seen in a public monorepo: every directory holds a link to one agents' guide, also
    # the one the services package goes into; git lists it when asked for deeper paths
    repo = init_repo(tmp_path / "proj", {
        "pyproject.toml": '[project]\nname = "proj"\nversion = "0"\ndependencies = ["fastapi"]\n',
        "GUIDE.md": "the guide\n",
        "app/__init__.py": "",
        "app/settings.py": "from pydantic_settings import BaseSettings\n\n\n"
                           "class Settings(BaseSettings):\n    name: str = 'x'\n\n\nsettings = Settings()\n",
        "app/main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n",
    })
    (repo / "app" / "GUIDE.md").symlink_to("../GUIDE.md")
    git(repo, "add", "app/GUIDE.md")
    git(repo, "commit", "-qm", "a link to the guide")
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, out + err
    assert (repo / "app" / "services" / "cache.py").is_file()
    assert (repo / "app" / "GUIDE.md").is_symlink()


@pytest.mark.parametrize(("pyproject", "said"), [
    ('[project]\nname = "shop"\nversion = "0.1.0"\ndependencies = "fastapi"\n',
     "pyproject.toml, line 4: [project] dependencies is a string, where it must be a list"),
    ('[project]\nname = "shop"\nversion = "0.1.0"\n\n[project.dependencies]\nfastapi = "*"\n',
     "pyproject.toml, line 5: [project] dependencies is a table, where it must be a list"),
    ('[tool.poetry]\nname = "shop"\ndependencies = ["fastapi"]\n',
     "pyproject.toml, line 3: [tool.poetry] dependencies is a list, where it must be a table"),
])
def test_dependencies_of_the_wrong_kind_are_named_as_such(
    sample_repo: Path, run, state, pyproject: str, said: str
) -> None:
    """Valid TOML whose dependencies are not what the format says: that is the message,
    not a syntax error at a line the file does not have."""
    (sample_repo / "pyproject.toml").write_text(pyproject)
    git(sample_repo, "commit", "-qam", "odd dependencies")
    before = state(sample_repo)
    code, _out, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 2, err
    assert said in err and "not valid TOML" not in err
    assert state(sample_repo) == before


def test_an_app_module_that_does_not_parse_is_named_with_its_line(sample_repo: Path, run) -> None:
    main = sample_repo / "main.py"
    lines = main.read_text().splitlines()
    main.write_text("\n".join(lines) + "\n\ndef broken(:\n")
    git(sample_repo, "commit", "-qam", "broken")
    code, _out, err = run(sample_repo, "add", "redis", "--dry-run")
    assert code == 0, err
    assert f"main.py does not parse (line {len(lines) + 2}: invalid syntax)" in err
