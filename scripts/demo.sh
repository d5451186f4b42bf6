#!/usr/bin/env bash
# Install paxx-patch into a virtualenv (the activated one, else $PAXX_PATCH_VENV, else
# .venv here) and run `paxx-patch demo [DIR]`: a sample FastAPI project in a new git
# repository, the redis component added with --commit, and its `git log --stat`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
. scripts/venv.sh
choose_venv .venv
if [ -x "$VENV/bin/uv" ]; then
  "$VENV/bin/uv" pip install -q --python "$PY" -e .
else
  "$PY" -m pip --version >/dev/null 2>&1 || "$PY" -m ensurepip --upgrade >/dev/null
  "$PY" -m pip install -q --disable-pip-version-check -e .
fi
echo "paxx-patch is installed in $VENV: run it as $VENV/bin/paxx-patch" >&2
exec "$VENV/bin/paxx-patch" demo "$@"
