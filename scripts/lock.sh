#!/usr/bin/env bash
# Rebuild requirements/test.txt, the lock of the test environment, from pyproject.toml
# ([project].dependencies and the `test` dependency group). Run it on purpose, after
# changing either; scripts/test.sh installs exactly what it pins.
#   bash scripts/lock.sh              keep the pinned versions that still fit
#   bash scripts/lock.sh --upgrade    move every pin to the newest release
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-$(command -v uv || echo .venv/bin/uv)}
exec "$uv" pip compile pyproject.toml --group test --universal --python-version 3.11 \
  --generate-hashes --no-header -q -o requirements/test.txt "$@"
