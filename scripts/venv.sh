# Sourced by test.sh and demo.sh: choose the virtualenv to work in, make it when needed.
#
# An activated virtualenv ($VIRTUAL_ENV) is used as it is. Otherwise the one named by
# $PAXX_PATCH_VENV, else .venv in the repository (git-ignored), is made with the
# first python3 on PATH. A stock Debian/Ubuntu python3 is "externally managed"
# (PEP 668) and may lack ensurepip: then python3-venv comes from apt-get.
# Sets VENV (its directory), PY (its python) and VENV_OWNED (1 when this script
# chose the directory, so it may be synced exactly).

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  echo "+ apt-get install $*" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@"
}

make_venv() {
  local dir=$1 base
  base=$(command -v python3) || { echo "error: python3 is not on PATH" >&2; return 2; }
  if ! "$base" -m venv "$dir" 2>/dev/null; then
    rm -rf "$dir"
    local minor
    minor=$("$base" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install "python$minor-venv" || apt_install python3-venv
    "$base" -m venv "$dir"
  fi
}

choose_venv() {
  local default=$1
  if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    VENV=$VIRTUAL_ENV
    VENV_OWNED=0
  else
    VENV=${PAXX_PATCH_VENV:-$default}
    VENV_OWNED=1
    if [ ! -x "$VENV/bin/python" ]; then
      echo "making a virtualenv in $VENV" >&2
      make_venv "$VENV"
    fi
  fi
  VENV=$(cd "$VENV" && pwd)
  PY=$VENV/bin/python
  echo "using the virtualenv in $VENV ($("$PY" --version 2>&1))" >&2
}
