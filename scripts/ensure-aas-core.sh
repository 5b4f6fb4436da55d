#!/usr/bin/env bash
# Makes sure the Asset Administration Shell reference checker (the PyPI package
# `aas-core3.0`, module `aas_core3`: the metamodel V3 JSON de-serialization and constraint
# verification) is installed in a private virtualenv for the AAS tests
# (crates/cli/tests/aas_documents.rs checks the fixtures and every exported submodel with it),
# and prints that virtualenv's python on stdout (everything else goes to stderr):
#
#   export DTFHE_AAS_PYTHON="$(scripts/ensure-aas-core.sh)"
#
# - installs Debian's python3 and python3-venv (apt-get) when the venv module is missing;
# - creates the virtualenv at ${DTFHE_AAS_VENV:-target/venv-aas} with `python3 -m venv`
#   and installs `aas-core3.0` there with pip (from PyPI); nothing else is installed and
#   nothing outside the virtualenv is changed;
# - idempotent: exits at once when the module already imports.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "ensure-aas-core: $*" >&2; }

venv="${DTFHE_AAS_VENV:-${CARGO_TARGET_DIR:-target}/venv-aas}"
mkdir -p "$(dirname "$venv")"
# Absolute, but not through symlinks: the venv's python is a symlink to the system's.
venv="$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")"
py="$venv/bin/python"
check() { "$py" -c 'import aas_core3.jsonization, aas_core3.verification' >/dev/null 2>&1; }

if [ -x "$py" ] && check; then
    log "aas-core3.0 already in $venv"
else
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
        if ! command -v apt-get >/dev/null 2>&1; then
            log "python3 with its venv module not found and apt-get is unavailable: install them"
            exit 1
        fi
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        log "installing python3 and python3-venv (apt-get)"
        { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends python3 python3-venv; } >&2
    fi
    log "creating $venv and installing aas-core3.0 (pip, PyPI)"
    python3 -m venv "$venv" >&2
    "$py" -m pip install --quiet --disable-pip-version-check 'aas-core3.0>=1.0,<2' >&2
    if ! check; then
        log "aas_core3 still does not import after the install"
        exit 1
    fi
fi
log "$("$py" -m pip show aas-core3.0 2>/dev/null | grep -i '^version' || true)"
echo "$py"
