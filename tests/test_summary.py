"""What add/update/remove say at the end: what landed, warnings, next steps — word by word."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import REDIS_REQUIREMENT, REDIS_VERSION, git

REDIS_STEPS = """
Next steps{when}:
redis: Install the new dependency (`pip install -e .`), start Redis
with `docker compose up -d redis`, then:

    from services.cache import cache_get, cache_set, cached, get_redis

`close_redis()` runs at shutdown in the app's lifespan (wired for you when the
app was found). The pool holds at most REDIS_MAX_CONNECTIONS connections per
worker process; size it to your Redis `maxclients` divided by the number of workers.
"""

SUBJECTS = [
    "add services/__init__.py, services/cache.py",
    "add redis to docker-compose.yml",
    f"add {REDIS_REQUIREMENT} to pyproject.toml",
    "add 8 settings to settings.py",
    "add 8 variables to .env.example",
    "wire redis into main.py",
    f"record redis {REDIS_VERSION} in paxx-patch.lock",
]
N = len(SUBJECTS)


def shas_hidden(text: str) -> str:
    return re.sub(r"\b[0-9a-f]{10}\b", "<sha>", text)


def test_commit_summary(sample_repo: Path, run) -> None:
    code, out, err = run(sample_repo, "add", "redis", "--commit")
    assert code == 0 and err == ""
    landed = "".join(f"<sha> paxx(redis): {s}\n" for s in SUBJECTS)
    assert shas_hidden(out) == landed + f"{N} commits added to your branch.\n" + REDIS_STEPS.format(when="")


def test_branch_summary(sample_repo: Path, run) -> None:
    code, out, _ = run(sample_repo, "add", "redis", "--branch", "with-redis")
    assert code == 0
    assert shas_hidden(out) == (
        f"branch with-redis: {N} commits on <sha>\n"
        f"{N} commits on the new branch with-redis; your checkout is untouched.\n"
        + REDIS_STEPS.format(when="")
    )


def test_patch_series_summary_has_next_steps_too(sample_repo: Path, run) -> None:
    code, out, _ = run(sample_repo, "add", "redis", "-o", "out")
    assert code == 0
    directory = sample_repo / "out"
    patches = sorted(str(p) for p in directory.iterdir())
    assert len(patches) == N
    assert out == (
        "".join(f"{p}\n" for p in patches)
        + f"{N} patches written to {directory}/; nothing else changed. "
        f"Apply with: git am -3 {directory}/*.patch\n"
        + REDIS_STEPS.format(when=" (once the patches are applied)")
    )


def test_dry_run_says_nothing_was_written(sample_repo: Path, run) -> None:
    code, out, err = run(sample_repo, "add", "redis", "--dry-run")
    assert code == 0 and out.startswith("diff --git ")
    assert err == f"Nothing was written (--dry-run): the diff above is what {N} commits would change.\n"


def test_stdout_series_reports_on_stderr(sample_repo: Path, run) -> None:
    code, out, err = run(sample_repo, "add", "redis", "--stdout")
    assert code == 0 and out.startswith("From ")
    assert err.startswith(f"{N} patches written to stdout, for `git am -3`; nothing else changed.\n")


def test_quiet_prints_warnings_only(sample_repo: Path, run) -> None:
    (sample_repo / "docker-compose.yml").unlink()
    git(sample_repo, "commit", "-qam", "no compose file")
    code, out, err = run(sample_repo, "add", "redis", "--commit", "-q")
    assert code == 0 and out == ""
    assert err == (
        "warning: docker-compose.yml did not exist and was created with redis only: no service "
        "of your app runs beside them. If your compose file has another name or place, set "
        "`compose_file` in [tool.paxx-patch] and run again.\n"
    )


def test_warnings_come_after_what_landed_and_before_next_steps(sample_repo: Path, run) -> None:
    (sample_repo / "docker-compose.yml").unlink()
    git(sample_repo, "commit", "-qam", "no compose file")
    code, out, _ = run(sample_repo, "add", "redis", "--commit")
    assert code == 0
    landed, _, rest = out.partition(f"{N} commits added to your branch.\n")
    assert landed and rest.startswith("\nWarnings:\nwarning: docker-compose.yml did not exist")
    assert rest.index("Warnings:") < rest.index("Next steps:")


def test_json_report_of_add_with_a_warning(sample_repo: Path, run) -> None:
    (sample_repo / "docker-compose.yml").unlink()
    git(sample_repo, "commit", "-qam", "no compose file")
    code, out, _ = run(sample_repo, "add", "redis", "--commit", "--json")
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"command", "outcome", "output", "commits", "landed", "patches",
                           "diff", "conflicts", "notes", "warnings", "next_steps"}
    assert report["outcome"] == "landed" and report["diff"] is None
    assert report["command"] == "add" and report["output"] == "commit" and report["landed"] is True
    head = git(sample_repo, "rev-parse", "HEAD").strip()
    assert report["commits"][-1]["sha"] == head
    assert [c["mutator"] for c in report["commits"]] == [
        "files", "compose", "dependencies", "settings", "env", "wiring", "lock"]
    assert report["commits"][0]["files"] == ["services/__init__.py", "services/cache.py"]
    assert len(report["warnings"]) == 1 and "docker-compose.yml did not exist" in report["warnings"][0]
    assert report["next_steps"][0].startswith("redis: Install the new dependency")


def test_messages_say_the_right_thing(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    code, out, _ = run(sample_repo, "add", "redis", "--commit")
    assert code == 0
    assert out == (f"note: redis {REDIS_VERSION} is already installed; nothing to add. "
                   "It is up to date.\nNothing to change.\n")
    code, _, err = run(sample_repo, "remove", "nosuch", "--commit")
    assert code == 2 and "See `paxx-patch list`" in err and "paxx-patch add nosuch" not in err
    code, _, err = run(sample_repo, "add", "redis", "--set", "x=1", "--dry-run")
    assert code == 2 and "no variable 'x' in redis; it takes no variables." in err
    code, out, _ = run(sample_repo, "eject", "redis", "services/cache.py")
    assert code == 0
    assert "commits added" not in out
    assert out.endswith("services/cache.py: yours now; `paxx-patch verify` no longer checks it.\n")


def test_global_options_before_or_after_the_subcommand(sample_repo: Path, run, tmp_path: Path) -> None:
    empty = tmp_path / "no-bundles"
    empty.mkdir()
    for argv in (["--bundle-path", str(empty), "list"], ["list", "--bundle-path", str(empty)]):
        code, out, _ = run(sample_repo, *argv)
        # the built-in components, by name
        first = min(p.name for p in (Path(__file__).parents[1] / "bundles").iterdir() if p.is_dir())
        assert code == 0 and out.startswith(first + " "), argv


def test_help_documents_every_argument(run, tmp_path: Path, capsys) -> None:
    from paxx_patch.cli.main import build_parser

    parser = build_parser()
    for verb, action_group in parser._subparsers._group_actions[0].choices.items():  # type: ignore[union-attr]
        for action in action_group._actions:
            assert action.help, f"{verb} {action.option_strings or action.dest} has no help"
        assert "examples:" in (action_group.epilog or ""), verb
    add_help = parser._subparsers._group_actions[0].choices["add"].format_help()  # type: ignore[union-attr]
    for mode in ("--commit", "--branch add-redis", "-o patches/", "--stdout | git am -3", "--dry-run"):
        assert f"paxx-patch add redis {mode}" in add_help
