"""The package keeps its layers: import-linter's contract in pyproject.toml holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_import_runs_up_a_layer() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "layers KEPT" in result.stdout


def test_every_layer_is_a_package_the_wheel_ships() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = set(config["tool"]["setuptools"]["packages"])
    layers = {name.strip() for layer in config["tool"]["importlinter"]["contracts"][0]["layers"]
              for name in layer.split("|")}
    assert layers <= shipped
    folders = {f"paxx_patch.{p.parent.name}" for p in (ROOT / "paxx_patch").glob("*/__init__.py")}
    assert folders - {"paxx_patch.sample"} == layers
