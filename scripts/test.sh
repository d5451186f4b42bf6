#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run it.
#
#   bash scripts/test.sh [PYTEST ARGS]           the whole suite, in the locked environment
#                                                (requirements/test.txt, exactly)
#   bash scripts/test.sh --newest [PYTEST ARGS]  the generated-code tests against the newest
#                                                releases of everything (bundles' ranges included)
#   bash scripts/test.sh --oldest [PYTEST ARGS]  the same against the oldest releases the
#                                                bundles' ranges allow (lowest-direct)
#
# The locked run uses the activated virtualenv, else $PAXX_PATCH_VENV, else .venv here;
# --newest and --oldest always use a virtualenv of their own (.venv-newest, .venv-oldest,
# or $PAXX_PATCH_VENV), so they never disturb the locked one.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
. scripts/venv.sh

mode=locked
case "${1:-}" in
  --newest | --oldest) mode=${1#--}; shift ;;
esac

missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# PostgreSQL's server programs (initdb, postgres) for the postgres component's tests
command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null \
  || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi
# PostGIS for the postgis component's tests, built for the server's major version (its
# library: the control file comes in a package of its own, postgresql-N-postgis-3-scripts)
pg_dir=$(compgen -G "/usr/lib/postgresql/*" | sort -V | tail -1 || true)
pg_major=${pg_dir##*/}
if [ -n "$pg_major" ] && [ ! -e "$pg_dir/lib/postgis-3.so" ]; then
  apt_install "postgresql-$pg_major-postgis-3"
fi

if [ "$mode" = locked ]; then
  choose_venv .venv
else
  unset VIRTUAL_ENV
  choose_venv ".venv-$mode"
fi

# uv, at the version the lock names, installs the lock (and is the locker of the tests)
uv_version=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements/test.txt)
UV=$VENV/bin/uv
if ! "$UV" --version 2>/dev/null | grep -qx "uv $uv_version.*"; then
  if [ -x "$UV" ]; then
    "$UV" pip install --python "$PY" "uv==$uv_version"
  else
    "$PY" -m pip --version >/dev/null 2>&1 || "$PY" -m ensurepip --upgrade >/dev/null
    "$PY" -m pip install --disable-pip-version-check "uv==$uv_version"
  fi
fi
export UV_PYTHON_DOWNLOADS=never

requirements=requirements/test.txt
pytest_args=("$@")
if [ "$mode" != locked ]; then
  # resolve afresh: newest of everything, or the bundles' direct dependencies at
  # their lowest allowed release (everything else resolved around them)
  work=$VENV/paxx-resolve
  mkdir -p "$work"
  "$PY" scripts/bundle_requirements.py >"$work/bundles.in"
  if [ "$mode" = newest ]; then
    "$UV" pip compile -q pyproject.toml --group test "$work/bundles.in" \
      --python "$PY" --upgrade -o "$work/resolved.txt"
  else
    # the lowest releases of the bundles' direct dependencies that install together
    # (kombu's redis extra, for one, refuses the redis bundle's own lowest)
    "$UV" pip compile -q "$work/bundles.in" --python "$PY" --resolution lowest-direct \
      -o "$work/lowest.txt"
    "$UV" pip compile -q pyproject.toml --group test --python "$PY" \
      -c "$work/lowest.txt" -o "$work/resolved.txt"
  fi
  requirements=$work/resolved.txt
  pytest_args=(tests/generated tests/test_e2e_components.py tests/test_bundle_install.py "$@")
fi

if [ "$VENV_OWNED" = 1 ]; then
  "$UV" pip sync --python "$PY" "$requirements"
else
  "$UV" pip install --python "$PY" -r "$requirements"
fi
"$UV" pip install --python "$PY" --no-deps --no-build-isolation -e .

if [ "$mode" != locked ]; then
  echo "$mode releases of the bundles' dependencies:" >&2
  "$PY" scripts/bundle_requirements.py --installed >&2
fi

# Bytecode is cached in the virtualenv, outside the checkout and the repositories the
# tests make: every one of the suite's Python processes would compile libcst, pydantic
# & co. again otherwise (PYTHONDONTWRITEBYTECODE alone forbids writing any cache).
export PYTHONPYCACHEPREFIX=$VENV/pycache
unset PYTHONDONTWRITEBYTECODE

# Independent tests run in parallel, one worker per core (pytest-xdist); tests that
# share one expensive environment are kept on one worker (xdist_group, --dist
# loadgroup). `-n 0` (or `-p no:xdist`) in the arguments runs everything in this process.
parallel=(-n auto --dist loadgroup)
for arg in "${pytest_args[@]}"; do
  case "$arg" in
    -n | -n* | --numprocesses | --numprocesses=* | no:xdist | -pno:xdist | --pdb | --trace) parallel=() ;;
  esac
done
exec "$PY" -m pytest "${parallel[@]}" "${pytest_args[@]}"
