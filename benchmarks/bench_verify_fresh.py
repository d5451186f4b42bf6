"""The pre-commit hook's cost as a user pays it: paxx-patch installed from its wheel into
a fresh virtualenv (bytecode compiled at install, as pip does), `verify` on a clean tree
against a bare interpreter start of that same virtualenv.

bench_verify.py measures the development virtualenv, whose editable install adds a
finder to every interpreter start; this one measures what `pip install paxx-patch`
gives. The wheel is built from this checkout with the setuptools of the running
interpreter; its dependencies are installed with uv from the package index (or its
cache). Each command runs RUNS times, taking turns, and the median is printed with
its ratio to `python -c pass`. The goal is a ratio of at most 2.0.

    python benchmarks/bench_verify_fresh.py [RUNS]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_verify import GOAL, git, install_by_hand, install_with_cli, median_ms

ROOT = Path(__file__).resolve().parent.parent


def build_wheel(where: Path) -> Path:
    """The wheel of the committed files of this checkout (as edited)."""
    source = where / "source"
    listed = git(ROOT, "ls-files", "-z").split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = where / "dist"
    dist.mkdir()
    script = "import sys\nfrom setuptools import build_meta\nprint(build_meta.build_wheel(sys.argv[1]))"
    out = subprocess.run([sys.executable, "-c", script, str(dist)], cwd=source, check=True,
                         capture_output=True, text=True).stdout
    return dist / out.strip().splitlines()[-1]


def fresh_venv(where: Path, wheel: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    subprocess.run([uv, "pip", "install", "-q", "--python", str(python), "--compile-bytecode",
                    str(wheel)], check=True)
    return python


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    # what a user's shell has: bytecode read from the installed __pycache__ directories
    for key in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "VIRTUAL_ENV"):
        os.environ.pop(key, None)
    os.environ.update(GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    with tempfile.TemporaryDirectory(prefix="bench-verify-fresh-") as tmp:
        base = Path(tmp)
        os.environ["HOME"] = tmp
        python = fresh_venv(base / "venv", build_wheel(base))
        script = python.with_name("paxx-patch")
        try:
            project, how = install_with_cli(base), "paxx-patch demo + add"
        except subprocess.CalledProcessError:
            project, how = install_by_hand(base), "by hand"
        commit = ["main.py", "services/cache.py"]  # what a typical commit passes
        commands = {
            "python -c pass": [str(python), "-c", "pass"],
            "paxx-patch verify main.py ...": [str(script), "verify", *commit],
            "paxx-patch verify (everything)": [str(script), "verify"],
            "python -m paxx_patch verify ...": [str(python), "-m", "paxx_patch", "verify", *commit],
        }
        for label, command in commands.items():  # warm the file cache; each must pass
            code = subprocess.run(command, cwd=project, stdout=subprocess.DEVNULL).returncode
            if code != 0:
                raise SystemExit(f"{label}: exit {code} on a clean tree")
        results = median_ms(commands, project, runs)

    baseline = results["python -c pass"][0]
    print(f"fresh virtualenv, paxx-patch from its wheel; project installed {how}; "
          f"median of {runs} runs; load average {os.getloadavg()[0]:.2f}")
    print(f"{'command':<34} {'exit':>4} {'median ms':>10} {'ratio':>6}")
    for label, (ms, code) in results.items():
        print(f"{label:<34} {code:>4} {ms:>10.1f} {ms / baseline:>6.2f}")
    ratio = results["paxx-patch verify main.py ..."][0] / baseline
    print(f"the hook on a typical commit costs {ratio:.2f}x `python -c pass` (goal <= {GOAL})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
