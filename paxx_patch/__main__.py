import sys

try:
    from paxx_patch.main import main

    code = main()
    from paxx_patch.signals import ignore

    ignore()  # the run is over: a late Ctrl-C must not turn its exit into a death by signal
except KeyboardInterrupt as e:  # before main() installed its handler, or after it returned
    from paxx_patch.errors import interrupted_message

    print(interrupted_message(e), file=sys.stderr)
    code = 130
raise SystemExit(code)
