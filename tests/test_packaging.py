"""The wheel carries every module, bundle, template and sample file, and building it
warns about nothing: an editable install reads the checkout and would hide a file the
wheel lacks, so the wheel is built here (the build backend of the test environment,
on a copy of the committed files) and its contents are compared with the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

BUILD = """
import sys
from setuptools import build_meta
print(build_meta.build_wheel(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[str]]:
    """(the wheel, everything the build printed, the files of the checkout)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    files = [name for name in tracked.stdout.decode().split("\0") if name and (ROOT / name).is_file()]
    source = tmp_path_factory.mktemp("source")
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    shutil.copy2(ROOT / "pyproject.toml", source / "pyproject.toml")  # as edited, too
    dist = tmp_path_factory.mktemp("dist")
    # byte-compiling is what an installer does; the build would only say it skips it
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run([sys.executable, "-c", BUILD, str(dist)], cwd=source, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dist / proc.stdout.strip().splitlines()[-1], proc.stdout + proc.stderr, files


def test_building_the_wheel_prints_no_warning(wheel: tuple[Path, str, list[str]]) -> None:
    _, output, _ = wheel
    warnings = [line for line in output.splitlines()
                if "warning" in line.lower() or "deprecat" in line.lower() or "absent" in line]
    assert not warnings, output


def test_the_wheel_ships_every_module_bundle_file_and_sample_file(
    wheel: tuple[Path, str, list[str]],
) -> None:
    path, _, files = wheel
    shipped = set(zipfile.ZipFile(path).namelist())
    expected = {name for name in files if name.startswith("paxx_patch/")}
    expected |= {"paxx_patch/" + name for name in files if name.startswith("bundles/")}
    assert {n for n in expected if n.startswith("paxx_patch/bundles/")}, "no bundle in the checkout?"
    assert "paxx_patch/sample/.env.example" in expected
    missing = sorted(expected - shipped)
    packages = sorted({".".join(Path(n).parent.parts) for n in missing})
    assert not missing, (f"the wheel lacks {missing}; list {packages} in [tool.setuptools] "
                         "packages and package-data of pyproject.toml")
    extra = sorted(n for n in shipped - expected if not n.startswith("paxx_patch-"))
    assert not extra, f"the wheel ships files the checkout does not track: {extra}"


def test_the_installed_wheel_lists_and_renders_its_bundles(
    wheel: tuple[Path, str, list[str]], tmp_path: Path,
) -> None:
    """Unpacked on its own (not the checkout) it finds its bundles and renders one."""
    path, _, files = wheel
    site = tmp_path / "site"
    zipfile.ZipFile(path).extractall(site)
    bundles = sorted({name.split("/")[1] for name in files
                      if name.startswith("bundles/") and name.endswith("/bundle.toml")})
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import paxx_patch; print(paxx_patch.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip() == str(site / "paxx_patch" / "__init__.py")
    listed = subprocess.run([sys.executable, "-m", "paxx_patch", "list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    for name in bundles:
        assert name in listed.stdout, listed.stdout
    demo = subprocess.run([sys.executable, "-m", "paxx_patch", "demo", str(tmp_path / "demo")],
                          cwd=tmp_path, env={**env, "GIT_AUTHOR_NAME": "t", "GIT_COMMITTER_NAME": "t",
                                             "EMAIL": "t@example.com"},
                          capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert (tmp_path / "demo" / "services" / "cache.py").is_file(), demo.stdout
