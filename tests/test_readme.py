"""The README's tables of environment variables say what the bundles' settings say."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def test_the_env_var_tables_match_the_bundles() -> None:
    spec = importlib.util.spec_from_file_location("env_tables", ROOT / "scripts" / "env_tables.py")
    assert spec is not None and spec.loader is not None
    env_tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(env_tables)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert env_tables.START in readme and env_tables.END in readme
    assert "| `WS_HEARTBEAT_INTERVAL` | float | `20.0` |" in env_tables.tables()
    assert env_tables.readme_with_tables(readme) == readme, (
        "README.md's env var tables are out of date: run python scripts/env_tables.py --write")
