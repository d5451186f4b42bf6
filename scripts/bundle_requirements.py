"""Print every requirement the built-in bundles may add, one per line (conditional ones too).

With --installed, print instead the installed version of each of those projects, which is
what `scripts/test.sh --newest/--oldest` reports it ran with. Standard library only: it
runs before the test environment is installed.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

BUNDLES = Path(__file__).resolve().parent.parent / "bundles"


def requirements() -> list[str]:
    found: list[str] = []
    for path in sorted(BUNDLES.glob("*/bundle.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        groups = [data.get("dependencies", [])]
        groups += [group["dependencies"] for group in data.get("conditional_dependencies", [])]
        found += [dep for group in groups for dep in group if dep not in found]
    return found


def main(argv: list[str]) -> int:
    for dep in requirements():
        if "--installed" not in argv:
            print(dep)
            continue
        name = re.split(r"[\[<>=!~ ;]", dep, maxsplit=1)[0]
        try:
            print(f"  {name}=={metadata.version(name)}  (bundle asks {dep})")
        except metadata.PackageNotFoundError:
            print(f"  {name}: not installed  (bundle asks {dep})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
