import sys

try:
    from paxx_patch.cli.main import main
    from paxx_patch.runtime.signals import ignore

    try:
        code = main()
    finally:
        # the run is over, whether it returned or exited (argparse's --version and
        # --help raise SystemExit): a late Ctrl-C must not turn its exit into a death
        # by signal, or a traceback from the interpreter's shutdown
        ignore()
except KeyboardInterrupt as e:  # before main() installed its handler
    from paxx_patch.runtime.errors import interrupted_message

    print(interrupted_message(e), file=sys.stderr)
    code = 130
raise SystemExit(code)
