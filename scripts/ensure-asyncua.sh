#!/usr/bin/env bash
# Makes sure the PyPI `asyncua` package (a pure-Python OPC UA server and client, written
# outside this project) is installed in a private virtualenv for the edge agent's OPC UA tests
# (crates/cli/tests/opcua_network.rs runs crates/cli/tests/opcua/machine.py with it on a free
# loopback port) and prints the virtualenv's python on stdout (everything else goes to stderr):
#
#   export DTFHE_ASYNCUA_PYTHON="$(scripts/ensure-asyncua.sh)"
#
# - the virtualenv is target/venv-asyncua (or $DTFHE_ASYNCUA_VENV), made with `python3 -m venv`;
#   `asyncua` comes from PyPI through pip (pinned below), nothing else is installed;
# - Debian's `python3-venv` is installed with apt-get when `python3 -m venv` is missing;
# - idempotent: exits at once when the virtualenv already imports the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "ensure-asyncua: $*" >&2; }

VERSION="2.1.0"
VENV="${DTFHE_ASYNCUA_VENV:-${CARGO_TARGET_DIR:-target}/venv-asyncua}"
PY="$VENV/bin/python"

have() { [ -x "$PY" ] && "$PY" -c "import asyncua, sys; sys.exit(0 if asyncua.__version__ == '$VERSION' else 1)" 2>/dev/null; }

if ! have; then
    if ! command -v python3 >/dev/null 2>&1; then
        log "python3 not found: install it"
        exit 1
    fi
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
        if ! command -v apt-get >/dev/null 2>&1; then
            log "python3 -m venv is unavailable and apt-get is missing: install python3-venv"
            exit 1
        fi
        SUDO=""
        if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
        log "installing python3-venv (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends python3-venv; } >&2
    fi
    log "creating $VENV and installing asyncua==$VERSION from PyPI"
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2
    "$PY" -m pip install --quiet --disable-pip-version-check "asyncua==$VERSION" >&2
fi
if ! have; then
    log "asyncua $VERSION still not importable from $PY"
    exit 1
fi
log "asyncua $("$PY" -c 'import asyncua; print(asyncua.__version__)') in $VENV"
echo "$(cd "$(dirname "$PY")" && pwd)/python"
