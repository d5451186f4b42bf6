"""Command line: argparse and dispatch only. Commands are imported when used."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from paxx_patch import __version__
from paxx_patch.errors import PaxxError, error_handler

_OUTPUT_HELP = "where the change goes (default: a patch series in paxx-patches/NAME/)"


def _add_output(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output", _OUTPUT_HELP).add_mutually_exclusive_group()
    group.add_argument("--commit", action="store_true",
                       help="commits on the current branch; working tree updated like a fast-forward")
    group.add_argument("--branch", metavar="NAME", help="commits on a new branch NAME; checkout untouched")
    group.add_argument("-o", "--output-dir", metavar="DIR", help="a numbered patch series for `git am -3`")
    group.add_argument("--stdout", action="store_true", help="the series as one mbox on stdout")
    group.add_argument("--dry-run", action="store_true", help="print the unified diff; write nothing")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", metavar="DIR", help="the app's directory inside the repository")
    parser.add_argument("--bundle-path", metavar="DIR", action="append", default=[],
                        help="an extra directory of bundles (repeatable); overrides built-ins")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paxx-patch",
        description="Add infrastructure components to a FastAPI project as git history.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", help="components available (and which are installed here)")
    p.add_argument("--json", action="store_true")
    _add_common(p)
    p = sub.add_parser("show", help="what a component adds")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    _add_common(p)
    for verb, text in (("add", "add components"), ("update", "move installed components to the bundled version"),
                       ("remove", "take components out again")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("names", metavar="NAME", nargs="*" if verb == "update" else "+")
        if verb != "remove":
            p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                           help="set a template variable")
        if verb == "update":
            p.add_argument("--allow-downgrade", action="store_true")
        _add_common(p)
        _add_output(p)
    p = sub.add_parser("status", help="installed components, versions, modified files")
    p.add_argument("--json", action="store_true")
    _add_common(p)
    p = sub.add_parser("detect", help="the conventions found here, with file:line and rule")
    p.add_argument("--json", action="store_true")
    p.add_argument("--project", metavar="DIR", help="the app's directory inside the repository")
    p = sub.add_parser("verify", help="pre-commit hook: exit 1 if owned files differ")
    p.add_argument("files", metavar="FILE", nargs="*")
    p.add_argument("--project", metavar="DIR")
    p = sub.add_parser("eject", help="take ownership of a component's files")
    p.add_argument("name")
    p.add_argument("files", metavar="FILE", nargs="*")
    p.add_argument("--project", metavar="DIR")
    p = sub.add_parser("demo", help="make a sample project and add redis to it")
    p.add_argument("dir", metavar="DIR", nargs="?", default="paxx-demo")
    return parser


def _output(args: argparse.Namespace) -> object:
    from paxx_patch.engine import Output

    if args.commit:
        return Output("commit")
    if args.branch:
        return Output("branch", args.branch)
    if args.stdout:
        return Output("stdout")
    if args.dry_run:
        return Output("dry-run")
    return Output("dir", args.output_dir or "")


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

        return add(names=args.names, output=_output(args), sets=_sets(args.set),  # type: ignore[arg-type]
                   project_dir=args.project, bundle_path=args.bundle_path)
    if args.command == "update":
        from paxx_patch.commands.update import update

        return update(names=args.names, output=_output(args), sets=_sets(args.set),  # type: ignore[arg-type]
                      allow_downgrade=args.allow_downgrade, project_dir=args.project,
                      bundle_path=args.bundle_path)
    if args.command == "remove":
        from paxx_patch.commands.update import remove

        return remove(names=args.names, output=_output(args),  # type: ignore[arg-type]
                      project_dir=args.project, bundle_path=args.bundle_path)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with error_handler() as result:
        result[0] = _dispatch(args)
    return result[0]
