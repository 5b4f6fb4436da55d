"""Checks AAS metamodel V3 JSON environments with the aas-core3.0 reference library.

Usage: python verify.py FILE...  Exit 0 when every file de-serializes
(aas_core3.jsonization.environment_from_jsonable) and verifies without a single error
(aas_core3.verification.verify); otherwise prints each error with its path and exits 1.
Run by crates/cli/tests/aas_documents.rs with the virtualenv scripts/ensure-aas-core.sh makes.
"""
import json
import sys

import aas_core3.jsonization as aas_jsonization
import aas_core3.verification as aas_verification

failed = False
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        jsonable = json.load(f)
    try:
        env = aas_jsonization.environment_from_jsonable(jsonable)
    except aas_jsonization.DeserializationException as e:
        print(f"{path}: not an AAS environment: {e.path}: {e.cause}")
        failed = True
        continue
    errors = list(aas_verification.verify(env))
    for e in errors:
        print(f"{path}: {e.path}: {e.cause}")
    failed = failed or bool(errors)
    if not errors:
        print(f"{path}: valid ({len(env.submodels or [])} submodels, "
              f"{len(env.asset_administration_shells or [])} shells)")
sys.exit(1 if failed else 0)
