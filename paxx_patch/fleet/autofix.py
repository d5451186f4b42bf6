"""`paxx-patch fleet autofix VERB [NAME...]`: an all-repos autofixer for paxx-patch.

It takes all-repos' autofixer options (`-C/--config-filename`, `--repos`, `-j/--jobs`,
`--limit`, `--dry-run`, `-i/--interactive`, `--color`, `--author`) and a paxx-patch
verb with its components and options:

    paxx-patch fleet autofix add redis metrics -C all-repos.json -j 8
    paxx-patch fleet autofix update metrics --bundle-path ../platform-bundles
    paxx-patch fleet autofix remove logging --dry-run

In each repository it works the way all-repos' autofixers do (`repo_context`: a
fresh clone, a branch `all-repos_autofix_paxx-patch-VERB-NAMES` off the default
branch), runs `paxx-patch VERB ... --commit` there, and pushes through the push
backend the config names (`merge_to_master`, a pull request, ...). The branch
carries paxx-patch's own commits, one per mutator with their trailers: all-repos'
`autofix_lib.fix` would squash them into one `git commit -a`, so this loop is its
own, on all-repos' parts. A repository where paxx-patch refuses (exit 2) or
leaves a conflict (exit 1) is reported with its one-line reason, and nothing is
pushed for it. Exit 0 when every repository was changed or had nothing to
change; 1 when any was not.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from email.utils import parseaddr
from typing import Any

from all_repos import autofix_lib, mapper
from all_repos.config import Config

from paxx_patch.fleet import load

VERBS = ("add", "update", "remove")


@dataclass(frozen=True)
class Outcome:
    repo: str  # the clone's name in the all-repos output directory (else its path)
    result: str  # pushed, unchanged, refused, conflict, failed, declined, dry-run, errored
    detail: str = ""
    commits: tuple[str, ...] = ()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paxx-patch fleet autofix",
        description="Run one paxx-patch verb across the repositories of an all-repos "
                    "config; push its commits through the config's push backend.")
    autofix_lib.add_fixer_args(parser)
    parser.add_argument("verb", choices=VERBS, help="what paxx-patch does in each repository")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="components (update: none = every installed one)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a template variable, as `paxx-patch add --set`")
    parser.add_argument("--from", dest="source", metavar="SOURCE[@REV]",
                        help="a bundle source, as `paxx-patch add --from`")
    parser.add_argument("--rev", help="the source's revision")
    parser.add_argument("--bundle-path", action="append", default=[], metavar="DIR",
                        help="an extra directory of bundles (an absolute path: each "
                             "repository is worked on in a clone of its own)")
    parser.add_argument("--project", metavar="DIR", help="the app's directory in each repository")
    parser.add_argument("--no-lock", action="store_true", help="do not run the projects' lockers")
    parser.add_argument("--offline", action="store_true", help="read bundle sources from the cache only")
    parser.add_argument("--json", action="store_true", help="end with one JSON document of the outcomes")
    return parser


def paxx_command(args: argparse.Namespace) -> list[str]:
    """The paxx-patch command line run in each repository."""
    command = [args.verb, *args.names, "--commit", "--quiet"]
    for item in args.set:
        command += ["--set", item]
    if args.source:
        command += ["--from", args.source]
    if args.rev:
        command += ["--rev", args.rev]
    for directory in args.bundle_path:
        command += ["--bundle-path", os.path.abspath(directory)]
    if args.project:
        command += ["--project", args.project]
    if args.no_lock:
        command.append("--no-lock")
    if args.offline:
        command.append("--offline")
    return command


def find_repos(config: Config, *, verb: str) -> list[str]:
    """The clones to work on: all of them for `add`; for `update` and `remove`, those
    that track a paxx-patch.lock."""
    from all_repos.find_files import find_files

    if verb != "add":
        return sorted(find_files(config, r"(^|/)paxx-patch\.lock$"))
    return [os.path.join(config.output_dir, name) for name in sorted(config.get_cloned_repos())]


def branch_name(verb: str, names: Sequence[str]) -> str:
    return f"paxx-patch-{verb}-{'-'.join(names) or 'all'}"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


def _reason(done: subprocess.CompletedProcess[str]) -> str:
    """paxx-patch's one-line reason: the first line of its error (else of its output),
    with the list that follows it when it ends in a colon (the conflicting files)."""
    for text in (done.stderr, done.stdout):
        lines = [line.strip().removeprefix("paxx-patch: error: ") for line in text.splitlines()]
        start = next((i for i, line in enumerate(lines) if line), None)
        if start is None:
            continue
        reason = lines[start]
        if reason.endswith(":"):
            listed = []
            for line in lines[start + 1:]:
                if not line:
                    break
                listed.append(line)
            reason = f"{reason} {', '.join(listed)}".rstrip()
        return reason
    return f"paxx-patch exited {done.returncode}"


def _environment(author: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if author:  # all-repos passes --author to `git commit`; here it is the commits' author
        name, email = parseaddr(author)
        env.update({"GIT_AUTHOR_NAME": name or author, "GIT_AUTHOR_EMAIL": email})
    return env


def fix_one(
    repo: str,
    *,
    command: Sequence[str],
    config: Config,
    branch: str,
    settings: autofix_lib.AutofixSettings,
    author: str | None,
) -> Outcome:
    """One repository, the way all-repos' autofixers work on it (its output printed)."""
    name = os.path.relpath(repo, config.output_dir)
    name = repo if name.startswith("..") else name
    outcome = Outcome(name, "errored", "see the traceback above")
    with autofix_lib.repo_context(repo, use_color=settings.color):
        autofix_lib.run("git", "checkout", "--quiet", "origin/HEAD", "-b", branch)
        base = _git("rev-parse", "HEAD")
        print(f"$ paxx-patch {' '.join(command)}", flush=True)
        done = subprocess.run([sys.executable, "-m", "paxx_patch", *command], capture_output=True,
                              text=True, env=_environment(author), check=False)
        sys.stdout.write(done.stdout)
        sys.stdout.write(done.stderr)
        if done.returncode != 0:
            result = {1: "conflict", 2: "refused"}.get(done.returncode, "failed")
            return Outcome(name, result, _reason(done))
        commits = tuple(_git("log", "--reverse", "--format=%s", f"{base}..HEAD").splitlines())
        if not commits:
            return Outcome(name, "unchanged", "nothing to change")
        if settings.interactive and not autofix_lib._interactive_check(use_color=settings.color):
            return Outcome(name, "declined", "not approved", commits)
        if settings.dry_run:
            return Outcome(name, "dry-run", f"{len(commits)} commits, not pushed", commits)
        outcome = Outcome(name, "errored", "the push failed (see the traceback above)", commits)
        config.push(config.push_settings, branch)
        outcome = Outcome(name, "pushed", f"{len(commits)} commits", commits)
    return outcome


def report(outcomes: Sequence[Outcome], *, as_json: bool) -> None:
    width = max((len(o.repo) for o in outcomes), default=0)
    print(f"\npaxx-patch fleet: {len(outcomes)} repositories")
    for outcome in outcomes:
        print(f"  {outcome.repo:<{width}}  {outcome.result:<9}  {outcome.detail}")
    if as_json:
        print(json.dumps({"outcomes": [asdict(o) for o in outcomes]}, indent=2))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verb != "update" and not args.names:
        _parser().error(f"{args.verb} needs the components to {args.verb}")
    branch = branch_name(args.verb, args.names)
    load(args.config_filename)  # its refusals as errors, before all-repos reads it again
    repos, config, commit, settings = autofix_lib.from_cli(
        args, find_repos=functools.partial(find_repos, verb=args.verb),
        msg=f"paxx-patch {args.verb}", branch_name=branch,
    )
    assert not settings.interactive or settings.jobs == 1
    chosen = tuple(repos)[:settings.limit]
    fix: Any = functools.partial(
        fix_one, command=paxx_command(args), config=config,
        branch=f"all-repos_autofix_{commit.branch_name}", settings=settings, author=commit.author,
    )
    with mapper.process_mapper(settings.jobs) as do_map:
        outcomes = list(do_map(fix, chosen))
    report(outcomes, as_json=args.json)
    ok = {"pushed", "unchanged", "dry-run", "declined"}
    return 0 if all(o.result in ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
