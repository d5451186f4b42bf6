"""Command line: argparse and dispatch only. Commands are imported when used.

The pre-commit hook's plain `verify` is read without argparse (see `_plain_verify`).
"""

from __future__ import annotations

import sys

from paxx_patch import __version__
from paxx_patch.runtime.errors import (
    EXIT_INTERRUPTED,
    PaxxError,
    error_handler,
    flush_output,
    usage_error,
)

# `typing` costs the hook ~5 ms to import; type checkers know this name
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any, NoReturn

_OUTPUT_HELP = "where the change goes (default: a patch series in paxx-patches/NAME/)"

_EXAMPLES = {
    "list": "  paxx-patch list\n  paxx-patch list --json",
    "show": "  paxx-patch show redis\n  paxx-patch show metrics --json",
    "add": (
        "  paxx-patch add redis --commit            commits on the current branch\n"
        "  paxx-patch add redis --branch add-redis  commits on a new branch; checkout untouched\n"
        "  paxx-patch add redis -o patches/         a patch series: git am -3 patches/*.patch\n"
        "  paxx-patch add redis --stdout | git am -3\n"
        "  paxx-patch add redis --dry-run           the unified diff; writes nothing\n"
        "  paxx-patch add storage --set bucket=avatars --commit\n"
        "  paxx-patch add our-redis --from https://git.example.com/platform/bundles.git --commit\n"
        "  paxx-patch add our-redis --from ../bundles@v1.2.0 --commit   a tag, branch or commit\n"
        "  paxx-patch add our-redis --from ours --commit   [tool.paxx-patch.sources] ours = \"URL\""
    ),
    "update": (
        "  paxx-patch update --commit               every installed component\n"
        "  paxx-patch update redis --branch redis-2 one of them, on a new branch\n"
        "  paxx-patch update our-redis --commit     its source's newest release tag\n"
        "  paxx-patch update our-redis --rev v2.0.0 --commit\n"
        "  paxx-patch update redis --from ours --commit   take it from a source from now on"
    ),
    "remove": "  paxx-patch remove redis --commit\n  paxx-patch remove metrics -o patches/",
    "check": (
        "  paxx-patch check                         exit 1 when a component is behind\n"
        "  paxx-patch check --json                  the same as a report, for CI\n"
        "  paxx-patch check --offline               sources from the cache only"
    ),
    "bundle": (
        "  paxx-patch bundle check bundles/our-redis   validate it, try it on the sample project"
    ),
    "status": "  paxx-patch status\n  paxx-patch status --json",
    "verify": "  paxx-patch verify                        every owned file\n"
              "  paxx-patch verify services/cache.py      only these (the pre-commit hook passes them)",
    "eject": "  paxx-patch eject redis services/cache.py  that file only\n"
             "  paxx-patch eject redis                   every file of redis",
    "demo": "  paxx-patch demo /tmp/paxx-demo",
    "detect": "  paxx-patch detect\n  paxx-patch detect --json",
    "fleet": "  paxx-patch fleet autofix add redis metrics -C all-repos.json -j 8\n"
             "  paxx-patch fleet autofix update metrics --dry-run\n"
             "  paxx-patch fleet status --require 'metrics>=1.4'",
}


def _add_output(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output", _OUTPUT_HELP).add_mutually_exclusive_group()
    group.add_argument("--commit", action="store_true",
                       help="commits on the current branch; working tree updated like a fast-forward")
    group.add_argument("--branch", metavar="NAME", help="commits on a new branch NAME; checkout untouched")
    group.add_argument("-o", "--output-dir", metavar="DIR", help="a numbered patch series for `git am -3`")
    group.add_argument("--stdout", action="store_true", help="the series as one mbox on stdout")
    group.add_argument("--dry-run", action="store_true", help="print the unified diff; write nothing")


def _add_common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """--project and --bundle-path, accepted before and after the subcommand: the
    subcommand's copy has no default, so it does not undo one given before it."""
    import argparse

    parser.add_argument("--project", metavar="DIR", default=None if top else argparse.SUPPRESS,
                        help="the app's directory inside the repository")
    parser.add_argument("--bundle-path", metavar="DIR", action="append",
                        default=[] if top else argparse.SUPPRESS,
                        help="an extra directory of bundles (repeatable); overrides built-ins")


def _subparser(sub: Any, verb: str, text: str) -> argparse.ArgumentParser:
    import argparse

    parser: argparse.ArgumentParser = sub.add_parser(
        verb, help=text, description=text[0].upper() + text[1:] + ".",
        epilog="examples:\n" + _EXAMPLES[verb],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _parser_class() -> type[argparse.ArgumentParser]:
    import argparse

    class Parser(argparse.ArgumentParser):
        """argparse, keeping what it says is wrong for the --json document of a usage error."""

        def error(self, message: str) -> NoReturn:
            usage_error(f"{self.prog}: {message}")
            super().error(message)

    return Parser


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = _parser_class()(
        prog="paxx-patch",
        description="Add infrastructure components to a FastAPI project as git history.",
        epilog="Run `paxx-patch COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    json_help = "print a machine-readable report (JSON) instead of text"
    name_help = "a component name, as `paxx-patch list` shows it"
    p = _subparser(sub, "list", "components available (and which are installed here)")
    p.add_argument("--json", action="store_true", help=json_help)
    _add_common(p)
    p = _subparser(sub, "show", "what a component adds: files, services, dependencies, settings")
    p.add_argument("name", metavar="NAME", help=name_help)
    p.add_argument("--json", action="store_true", help=json_help)
    _add_common(p)
    add_text = "add components (built in, from --bundle-path, or from a git repository: --from)"
    update_text = "move installed components to the bundled version or their source's newest tag"
    for verb, text in (("add", add_text), ("update", update_text + " (three-way)"),
                       ("remove", "take components out again (three-way)")):
        p = _subparser(sub, verb, text)
        p.add_argument("names", metavar="NAME", nargs="*" if verb == "update" else "+",
                       help=name_help + ("; none: every installed one" if verb == "update" else ""))
        if verb != "remove":
            p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                           help="set a template variable of the component (see `paxx-patch show`)")
        if verb == "update":
            p.add_argument("--allow-downgrade", action="store_true",
                           help="go back to an older bundled version than the one installed")
        if verb != "remove":
            p.add_argument("--from", metavar="SOURCE[@REV]", dest="source",
                           help="a git URL, a local repository or a name from [tool.paxx-patch.sources]; "
                           "the bundle is its root or bundles/NAME/ (REV: tag, branch or commit; "
                           "default: the newest release tag)")
            p.add_argument("--rev", metavar="REV",
                           help="the revision of the source to take (instead of @REV or the newest tag)")
        p.add_argument("--offline", action="store_true",
                       help="read sources from the cache only; never fetch")
        p.add_argument("--no-lock", action="store_true",
                       help="do not run the project's locker (uv/poetry/pdm); warn instead")
        p.add_argument("--json", action="store_true",
                       help="print the report as JSON: commits, files, warnings, next steps")
        p.add_argument("-q", "--quiet", action="store_true", help="print warnings and errors only")
        _add_common(p)
        _add_output(p)
    p = _subparser(sub, "check", "exit 1 when an installed component is behind its newest version (for CI)")
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--offline", action="store_true",
                   help="compare with the cached sources only; never fetch")
    _add_common(p)
    p = _subparser(sub, "bundle", "tools for bundle authors")
    bundle_sub = p.add_subparsers(dest="bundle_command", metavar="SUBCOMMAND", required=True,
                                   help="what to do: check")
    q = bundle_sub.add_parser(
        "check", help="validate a bundle directory and try it on the sample project",
        description="Validate bundle.toml, add the bundle to the built-in sample project in a\n"
        "temporary repository, show the commits and files, and check the result: compose\n"
        "config, Python compiles, ruff (check and format) on the files it adds.\n"
        "Exit 0: all passed; 1: a check failed; 2: the bundle is invalid.\n"
        "The bundle format: docs/bundles.md.",
        epilog="examples:\n" + _EXAMPLES["bundle"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("dir", metavar="DIR", help="the bundle directory (holding bundle.toml)")
    q.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="set a template variable of the bundle")
    p = _subparser(sub, "status", "installed components, versions, modified files")
    p.add_argument("--json", action="store_true", help=json_help)
    _add_common(p)
    p = _subparser(sub, "fleet", "across the repositories of an all-repos config: `autofix` "
                   "runs a verb and pushes its commits, `status` reports versions and drift")
    p.add_argument("fleet_command", metavar="{autofix,status} ...", nargs="?",
                   help="see `paxx-patch fleet autofix --help`")
    p = _subparser(sub, "detect", "the conventions found here, each with its file, line and rule")
    p.add_argument("--json", action="store_true", help=json_help)
    _add_common(p)
    p = _subparser(sub, "verify", "pre-commit hook: exit 1 if owned files differ from the pristine ones")
    p.add_argument("files", metavar="FILE", nargs="*",
                   help="check only these (all when the lock is among them; none given: all)")
    p.add_argument("--project", metavar="DIR", default=argparse.SUPPRESS,
                   help="the app's directory inside the repository")
    p = _subparser(sub, "eject", "take ownership of a component's files; verify stops checking them")
    p.add_argument("name", metavar="NAME", help="the installed component")
    p.add_argument("files", metavar="FILE", nargs="*",
                   help="the files to take (none given: every file of NAME); recorded in a commit")
    p.add_argument("--project", metavar="DIR", default=argparse.SUPPRESS,
                   help="the app's directory inside the repository")
    p = _subparser(sub, "demo", "make a sample project and add redis to it")
    p.add_argument("dir", metavar="DIR", nargs="?", default="paxx-demo",
                   help="where to make it (a new directory; default ./paxx-demo)")
    return parser


def _run(args: argparse.Namespace) -> Any:
    """The options add, update and remove share (`commands.common.Run`)."""
    from paxx_patch.commands.common import Run

    return Run(_output(args), project_dir=args.project, bundle_path=args.bundle_path,
               refresh_lock=not args.no_lock, as_json=args.json, quiet=args.quiet,
               offline=args.offline)


def _output(args: argparse.Namespace) -> Any:
    from paxx_patch.plan.engine import Kind, Output

    if args.commit:
        return Output(Kind.COMMIT)
    if args.branch:
        return Output(Kind.BRANCH, args.branch)
    if args.stdout:
        return Output(Kind.STDOUT)
    if args.dry_run:
        return Output(Kind.DRY_RUN)
    return Output(Kind.DIR, args.output_dir or "")


def _sets(pairs: Sequence[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PaxxError(f"--set {pair!r}: write it as KEY=VALUE.")
        result[key] = value
    return result


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "verify":
        from paxx_patch.commands.verify import verify

        return verify(files=args.files, project=args.project)
    if args.command == "list":
        from paxx_patch.commands.info import list_components

        return list_components(as_json=args.json, bundle_path=args.bundle_path, project_dir=args.project)
    if args.command == "show":
        from paxx_patch.commands.info import show

        return show(name=args.name, as_json=args.json, bundle_path=args.bundle_path)
    if args.command == "add":
        from paxx_patch.commands.add import add
        from paxx_patch.commands.common import Sourcing

        return add(args.names, _run(args), _sets(args.set), Sourcing(args.source, args.rev))
    if args.command == "update":
        from paxx_patch.commands.common import Sourcing
        from paxx_patch.commands.update import update

        return update(args.names, _run(args), _sets(args.set), args.allow_downgrade,
                      Sourcing(args.source, args.rev))
    if args.command == "remove":
        from paxx_patch.commands.update import remove

        return remove(args.names, _run(args))
    if args.command == "check":
        from paxx_patch.commands.check import check

        return check(as_json=args.json, project_dir=args.project, bundle_path=args.bundle_path,
                     offline=args.offline)
    if args.command == "bundle":
        from paxx_patch.commands.bundle_check import bundle_check

        return bundle_check(directory=args.dir, sets=_sets(args.set))
    if args.command == "status":
        from paxx_patch.commands.status import status

        return status(as_json=args.json, project_dir=args.project, bundle_path=args.bundle_path)
    if args.command == "detect":
        from paxx_patch.commands.detect import detect

        return detect(as_json=args.json, project_dir=args.project)
    if args.command == "eject":
        from paxx_patch.commands.eject import eject

        return eject(name=args.name, files=args.files, project_dir=args.project)
    if args.command == "demo":
        from paxx_patch.commands.demo import demo

        return demo(directory=args.dir)
    raise PaxxError(f"`{args.command}` is not available in this version yet.")


def _plain_verify(argv: Sequence[str]) -> tuple[list[str], str | None] | None:
    """(files, project) of a plain `verify [--project DIR] [FILE...]`, the line
    the pre-commit hook runs on every commit; None for anything else (help, a
    typo), which argparse then reads. argparse and what it imports would cost
    the hook more than its own work."""
    if not argv or argv[0] != "verify":
        return None
    files: list[str] = []
    project = None
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            files += rest
            break
        if arg.startswith("--project="):
            project = arg.partition("=")[2]
        elif arg == "--project" and rest:
            project = rest.pop(0)
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            files.append(arg)
    return files, project


def _json_command(argv: Sequence[str]) -> str | None:
    """The command whose --json was asked for, before argparse has read the line (a
    usage error gets its document too); None without --json."""
    words = list(argv[: argv.index("--")] if "--" in argv else argv)
    if "--json" not in words:
        return None
    return next((w for w in words if w in _EXAMPLES), "paxx-patch")


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    plain = _plain_verify(args)
    if plain is not None:
        # the pre-commit hook: read-only, so a Ctrl-C may end it as Python does; it
        # skips the signal set-up and argparse to stay fast on every commit
        with error_handler() as result:
            from paxx_patch.commands.verify import verify

            result[0] = verify(files=plain[0], project=plain[1])
        flush_output()
        return result[0]
    from paxx_patch.runtime import signals

    restore = signals.install()  # first: a Ctrl-C at any instant ends in the handler
    try:
        handler = error_handler(_json_command(args))
        with handler as result:
            if args[:1] == ["fleet"] and args[1:2] != ["--help"] and args[1:2] != ["-h"]:
                # all-repos' own options follow: the fleet parses its arguments itself
                from paxx_patch.fleet import main as fleet

                result[0] = fleet(args[1:])
                flush_output()
                return result[0]
            parsed = build_parser().parse_args(args)
            handler.json_command = parsed.command if getattr(parsed, "json", False) else None
            result[0] = _dispatch(parsed)
        flush_output()
        return result[0]
    except KeyboardInterrupt:  # while the handler itself was printing
        print("paxx-patch: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as e:  # argparse: --help and --version (0), bad usage (2), said already
        flush_output()
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    finally:
        restore()
