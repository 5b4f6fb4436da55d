#!/usr/bin/env bash
# Makes sure the PyPI `asyncua` package (a pure-Python OPC UA server and client, written
# outside this project) is installed in a private virtualenv for the edge agent's OPC UA tests
# (crates/cli/tests/opcua_network.rs runs crates/cli/tests/opcua/machine.py with it on a free
# loopback port) and prints the virtualenv's python on stdout (everything else goes to stderr):
#
#   export DTFHE_ASYNCUA_PYTHON="$(scripts/ensure-asyncua.sh)"
#
# The virtualenv is ${DTFHE_ASYNCUA_VENV:-target/venv-asyncua}; how it is made (and what may be
# installed with apt-get) is scripts/lib/python-venv.sh. Idempotent: nothing is installed when
# the pinned version already imports.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/python-venv.sh

VERSION="2.1.0"
ensure_python_venv ensure-asyncua \
    "${DTFHE_ASYNCUA_VENV:-${CARGO_TARGET_DIR:-target}/venv-asyncua}" \
    "import asyncua, sys; sys.exit(0 if asyncua.__version__ == '$VERSION' else 1)" \
    "asyncua==$VERSION"
