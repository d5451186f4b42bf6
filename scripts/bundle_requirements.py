"""Print every requirement the built-in bundles may add, one per line (conditional ones too).

With --installed, print instead the installed version of each of those projects, which is
what `scripts/test.sh --newest/--oldest` reports it ran with.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from packaging.requirements import Requirement

from paxx_patch.bundle import available, load_bundle_dir


def requirements() -> list[str]:
    found: list[str] = []
    for directory in available().values():
        for dep in load_bundle_dir(directory).all_dependencies:
            if dep not in found:
                found.append(dep)
    return found


def main(argv: list[str]) -> int:
    for dep in requirements():
        if "--installed" not in argv:
            print(dep)
            continue
        name = Requirement(dep).name
        try:
            print(f"  {name}=={metadata.version(name)}  (bundle asks {dep})")
        except metadata.PackageNotFoundError:
            print(f"  {name}: not installed  (bundle asks {dep})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
