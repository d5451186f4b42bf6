"""`--json`: exactly one JSON document on stdout for every command and every outcome
(success, refusal, conflict, dry run), valid against the schema the package ships."""

from __future__ import annotations

import json
import shutil
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from paxx_patch.manifest import LOCK_NAME
from tests.conftest import REDIS_VERSION, ROOT, git

SCHEMA = json.loads(files("paxx_patch").joinpath("report.schema.json").read_text())
DOCSTRING = '"""Return the JSON value stored under `key`, or None when there is none."""'


def document(out: str, kind: str) -> Any:
    """stdout as one JSON document, valid as a whole and as the `kind` it should be."""
    doc = json.loads(out)  # raises on anything before or after the document
    jsonschema.validate(doc, SCHEMA)
    jsonschema.validate(doc, {**SCHEMA, "anyOf": [{"$ref": f"#/$defs/{kind}"}]})
    return doc


@pytest.fixture
def installed(sample_repo: Path, run) -> Path:
    code, _, err = run(sample_repo, "add", "redis", "--commit", "--no-lock", "-q")
    assert code == 0, err
    return sample_repo


@pytest.mark.parametrize(("argv", "kind"), [
    (["list"], "list"), (["show", "redis"], "show"), (["status"], "status"),
    (["check", "--offline"], "check"), (["detect"], "detect"),
    (["update", "--no-lock"], "change"), (["add", "redis", "--no-lock"], "change"),
])
def test_each_read_or_no_op_command_prints_one_document(installed: Path, run, argv, kind) -> None:
    code, out, err = run(installed, *argv, "--json")
    assert code == 0, err
    doc = document(out, kind)
    if kind == "change":
        assert doc["outcome"] == "nothing" and doc["commits"] == []


def test_add_commit_reports_the_commits_landed(sample_repo: Path, run) -> None:
    code, out, err = run(sample_repo, "add", "redis", "--commit", "--no-lock", "--json")
    assert code == 0, err
    doc = document(out, "change")
    assert doc["outcome"] == "landed" and doc["landed"] is True
    assert doc["commits"][-1]["sha"] == git(sample_repo, "rev-parse", "HEAD").strip()
    assert doc["diff"] is None and doc["conflicts"] == []


def test_patches_are_listed(sample_repo: Path, tmp_path: Path, run) -> None:
    code, out, err = run(sample_repo, "add", "redis", "-o", str(tmp_path / "p"), "--no-lock", "--json")
    assert code == 0, err
    doc = document(out, "change")
    assert doc["outcome"] == "patches" and len(doc["patches"]) == len(doc["commits"])


def test_a_dry_run_holds_its_diff_inside_the_document(sample_repo: Path, run, state) -> None:
    before = state(sample_repo)
    code, out, err = run(sample_repo, "add", "redis", "--dry-run", "--no-lock", "--json")
    assert code == 0, err
    doc = document(out, "change")
    assert doc["outcome"] == "dry-run" and doc["landed"] is False
    assert doc["diff"].startswith("diff --git a/") and "+++ b/services/cache.py" in doc["diff"]
    assert "diff --git" not in err
    assert state(sample_repo) == before
    # without --json the diff is stdout itself, as before
    code, out, _ = run(sample_repo, "add", "redis", "--dry-run", "--no-lock")
    assert code == 0 and out == doc["diff"]


def _malformed_lock(repo: Path) -> None:
    (repo / LOCK_NAME).write_text("[components\n")
    git(repo, "add", LOCK_NAME)
    git(repo, "commit", "-qm", "broken lock")


@pytest.mark.parametrize(("argv", "kind", "expect"), [
    (["add", "no-such-component"], "bad-input", "unknown component 'no-such-component'"),
    (["update", "storage"], "bad-input", "storage"),
    (["remove", "storage"], "bad-input", "storage is not installed here"),
    (["show", "nothing-here"], "bad-input", "nothing-here"),
    (["add"], "usage", "the following arguments are required: NAME"),
    (["status", "--bogus"], "usage", "unrecognized arguments: --bogus"),
    (["add", "redis", "--commit", "--branch", "x"], "usage", "not allowed with argument"),
])
def test_each_refusal_prints_an_error_document(
    installed: Path, run, state, argv: list[str], kind: str, expect: str
) -> None:
    before = state(installed)
    code, out, err = run(installed, *argv, "--json")
    assert code == 2, (out, err)
    if kind == "usage":
        return  # the document of a usage error: test_a_usage_error_document
    doc = document(out, "error")
    assert doc["exit_code"] == 2 and doc["command"] == argv[0]
    assert doc["error"]["kind"] == kind and expect in doc["error"]["message"]
    assert f"paxx-patch: error: {doc['error']['message']}" in err  # the same words for people
    assert state(installed) == before


def test_a_usage_error_document(installed: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from paxx_patch.cli.main import main

    monkeypatch.chdir(installed)
    for argv, expect in ((["add", "--json"], "paxx-patch add: the following arguments are required"),
                         (["status", "--bogus", "--json"], "unrecognized arguments: --bogus")):
        capsys.readouterr()
        assert main(argv) == 2
        out, err = capsys.readouterr()
        doc = document(out, "error")
        assert doc["error"]["kind"] == "usage" and expect in doc["error"]["message"], doc
        assert "usage:" in err


def test_a_malformed_lock_is_an_error_document(installed: Path, run) -> None:
    _malformed_lock(installed)
    for argv in (["status"], ["update"], ["remove", "redis"], ["check"]):
        code, out, err = run(installed, *argv, "--json")
        assert code == 2, (argv, out, err)
        doc = document(out, "error")
        assert doc["error"]["kind"] == "bad-input" and LOCK_NAME in doc["error"]["message"]


def test_git_failing_is_an_error_document(
    installed: Path, tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "no-git").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "no-git"))
    code, out, _ = run(installed, "status", "--json")
    assert code == 2
    doc = document(out, "error")
    assert doc["error"]["kind"] == "git" and "git could not be run" in doc["error"]["message"]


def test_an_update_that_ends_in_a_conflict_reports_it(installed: Path, tmp_path: Path, run) -> None:
    root = tmp_path / "newer"
    shutil.copytree(ROOT / "bundles" / "redis", root / "redis")
    toml = root / "redis" / "bundle.toml"
    major, minor, _ = REDIS_VERSION.split(".")
    toml.write_text(toml.read_text().replace(f'version = "{REDIS_VERSION}"',
                                             f'version = "{major}.{int(minor) + 1}.0"'))
    template = root / "redis" / "templates" / "cache.py.j2"
    template.write_text(template.read_text().replace(DOCSTRING, '"""Theirs."""'))
    cache = installed / "services" / "cache.py"
    cache.write_text(cache.read_text().replace(DOCSTRING, '"""Mine."""'))
    git(installed, "commit", "-qam", "mine")
    code, out, err = run(installed, "update", "redis", "--commit", "--no-lock", "--json",
                         "--bundle-path", str(root))
    assert code == 1, (out, err)
    doc = document(out, "error")
    document(out, "change")  # the report of the change, with the error
    assert doc["outcome"] == "conflict" and doc["conflicts"] == ["services/cache.py"]
    assert doc["error"]["kind"] == "conflict" and doc["exit_code"] == 1
    assert "cherry-pick --abort" in doc["error"]["message"]
    git(installed, "cherry-pick", "--abort")
