import sys

try:
    from paxx_patch.main import main

    code = main()
except KeyboardInterrupt:  # before main() could install its handler (while importing)
    print("paxx-patch: interrupted; nothing was changed.", file=sys.stderr)
    code = 130
raise SystemExit(code)
