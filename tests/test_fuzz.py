"""Fuzzing: argument vectors, and malformed pyproject.toml, docker-compose.yml,
paxx-patch.lock and bundle.toml. Whatever comes in, the exit is 0, 1 (a finding) or
2 (a clear error), never 3 and never a traceback; and a refusal changes nothing,
byte for byte, in the working tree or the git directory."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, git, init_repo

FUZZ = settings(
    max_examples=30, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
counter = iter(range(10**6))


def everything(repo: Path) -> dict[str, str]:
    """Every file and directory of the repository, .git included, by content."""
    return {
        p.relative_to(repo).as_posix(): "directory" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(repo.rglob("*"))
    }


@pytest.fixture
def template(tmp_path: Path, run) -> Path:
    """The sample project with redis installed: every file kind the fuzzers break is there."""
    repo = init_repo(tmp_path / "template", ROOT / "paxx_patch" / "sample")
    code, _out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, err
    return repo


def fresh(template: Path) -> Path:
    repo = template.parent / f"r{next(counter)}"
    shutil.copytree(template, repo, symlinks=True)
    return repo


def outcome(run: Callable[..., tuple[int, str, str]], repo: Path, argv: list[str]) -> int:
    before = everything(repo)
    code, out, err = run(repo, *argv)
    assert code in (0, 1, 2), (argv, out[-2000:], err[-2000:])
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    if code == 2:
        after = everything(repo)
        assert after == before, (argv, err, sorted(set(after.items()) ^ set(before.items()))[:6])
        assert err.strip(), argv  # a refusal says why
    return code


# 1. argument vectors: verbs, components, options and values, valid and not, in any order

WORDS = st.sampled_from([
    "add", "update", "remove", "status", "verify", "check", "list", "show", "detect", "eject",
    "bundle", "redis", "metrics", "storage", "tasks", "logging", "postgres", "nope", "REDIS",
    "--commit", "--branch", "-o", "--output-dir", "--stdout", "--dry-run", "--json", "-q",
    "--set", "--to", "--rev", "--from", "--offline", "--no-lock", "--allow-downgrade",
    "--project", "--bundle-path", "--help", "--version", "-", "--", "@", "HEAD", "x=1",
    "bucket=", "=", "1.0.0", "999.0.0", "not-a-version", "..", ".", "/", ".git", "a b",
    "paxx-patch.lock", "services/cache.py", "file:///nonexistent", "ours@v1", "é", "\t",
    "x" * 300,
])
ARGV = st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=7)


@FUZZ
@given(argv=ARGV)
def test_any_argument_vector(template: Path, run, argv: list[str]) -> None:
    outcome(run, fresh(template), [a.replace("\0", "") for a in argv])


# 2. malformed files: the valid file with a few edits of the kinds that break parsers

NOISE = st.text(alphabet=st.sampled_from(list("[]{}=:\"',#-.\n \t\\0123456789abxyz") + ["\0", "é", "\r"]),
                max_size=16)


@st.composite
def broken(draw: st.DrawFn, text: str) -> str:
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        span = draw(st.integers(0, 40))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "repeat"]))
        if kind == "delete":
            text = text[:at] + text[at + span:]
        elif kind == "insert":
            text = text[:at] + draw(NOISE) + text[at:]
        elif kind == "replace":
            text = text[:at] + draw(NOISE) + text[at + span:]
        else:
            text = text[:at] + text[at:at + span] * draw(st.integers(2, 50)) + text[at + span:]
    return text


def commit_broken(repo: Path, name: str, text: str) -> None:
    (repo / name).write_bytes(text.encode("utf-8", errors="surrogatepass"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", f"broken {name}")


def file_fuzzer(name: str, commands: list[list[str]]) -> Callable[..., None]:
    text = (ROOT / "paxx_patch" / "sample" / name).read_text() if name != "paxx-patch.lock" else ""

    @FUZZ
    @given(data=st.data())
    def fuzz(template: Path, run, data: st.DataObject) -> None:
        source = text or (template / name).read_text()
        repo = fresh(template)
        commit_broken(repo, name, data.draw(broken(source)))
        for argv in commands:
            outcome(run, repo, argv)

    return fuzz


test_broken_pyproject = file_fuzzer("pyproject.toml", [
    ["add", "metrics", "--commit"], ["update", "redis", "--dry-run"], ["status", "--json"]])
test_broken_compose = file_fuzzer("docker-compose.yml", [
    ["add", "storage", "--commit"], ["remove", "redis", "--dry-run"]])
test_broken_lock = file_fuzzer("paxx-patch.lock", [
    ["verify"], ["status"], ["update", "redis", "--commit"], ["remove", "redis", "--commit"],
    ["add", "metrics", "--branch", "m"]])


@FUZZ
@given(data=st.data())
def test_broken_bundle(template: Path, tmp_path: Path, run, data: st.DataObject) -> None:
    bundles = tmp_path / f"bundles{next(counter)}"
    shutil.copytree(ROOT / "bundles" / "redis", bundles / "redis")
    toml = bundles / "redis" / "bundle.toml"
    toml.write_bytes(data.draw(broken(toml.read_text())).encode("utf-8", errors="surrogatepass"))
    repo = fresh(template)
    for argv in (["update", "redis", "--commit"], ["add", "redis", "--branch", "b"],
                 ["bundle", "check", str(bundles / "redis")]):
        outcome(run, repo, [*argv, "--bundle-path", str(bundles)] if argv[0] != "bundle" else argv)
