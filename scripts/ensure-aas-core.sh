#!/usr/bin/env bash
# Makes sure the Asset Administration Shell reference checker (the PyPI package
# `aas-core3.0`, module `aas_core3`: the metamodel V3 JSON de-serialization and constraint
# verification) is installed in a private virtualenv for the AAS tests
# (crates/cli/tests/aas_documents.rs checks the fixtures and every exported submodel with it),
# and prints that virtualenv's python on stdout (everything else goes to stderr):
#
#   export DTFHE_AAS_PYTHON="$(scripts/ensure-aas-core.sh)"
#
# The virtualenv is ${DTFHE_AAS_VENV:-target/venv-aas}; how it is made (and what may be
# installed with apt-get) is scripts/lib/python-venv.sh. Idempotent: nothing is installed when
# the module already imports.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/python-venv.sh

ensure_python_venv ensure-aas-core \
    "${DTFHE_AAS_VENV:-${CARGO_TARGET_DIR:-target}/venv-aas}" \
    'import aas_core3.jsonization, aas_core3.verification' \
    'aas-core3.0>=1.0,<2'
