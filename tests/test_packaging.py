"""The wheel must carry every package: an editable install would hide a missing one."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "paxx_patch").rglob("*.py")
        if "sample" not in path.parts and "__pycache__" not in path.parts
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert {"paxx_patch.bundles", "paxx_patch.sample"} <= listed


def test_the_report_schema_is_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "report.schema.json" in data["paxx_patch"]
    assert (ROOT / "paxx_patch" / "report.schema.json").is_file()
