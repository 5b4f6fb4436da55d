#!/usr/bin/env bash
# The project's test command (README, CI): formatting, lints with warnings denied, all tests.
# Dependencies and the crypto crates are built optimised even here (workspace profile), so
# the FHE tests run at full speed.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> sqlite3 (for the outside-tampering tests)"
scripts/ensure-sqlite3.sh || echo "warning: could not install sqlite3; the audit tests fall back to rusqlite"
# ensure VAR SCRIPT WHAT: use $VAR if set, else what SCRIPT prints (it installs or starts the
# peer); without it, fail under CI and warn elsewhere that WHAT is skipped.
ensure() {
    local var="$1" script="$2" what="$3" value
    if [ -n "${!var:-}" ]; then
        echo "using $var from the environment"
    elif value="$("$script")"; then
        export "$var=$value"
        echo "$var=$value"
    elif [ "${CI:-}" = "true" ]; then
        echo "error: $script failed; under CI $what must run" >&2
        exit 1
    else
        echo "WARNING: $script failed: $what will be SKIPPED" >&2
    fi
}
echo "==> PostgreSQL (the store tests run on SQLite and on PostgreSQL)"
ensure DTFHE_TEST_PG_URL scripts/ensure-postgres.sh "the PostgreSQL half of the store and audit tests"
echo "==> Chromium (the dashboard's browser tests)"
ensure DTFHE_CHROMEDRIVER scripts/ensure-chromium.sh "the dashboard's browser tests"
echo "==> Mosquitto (the edge agent's MQTT tests run against a real broker)"
ensure DTFHE_MOSQUITTO scripts/ensure-mosquitto.sh "the edge agent's MQTT tests"
echo "==> aas-core3.0 (the AAS tests check fixtures and exports with the reference library)"
ensure DTFHE_AAS_PYTHON scripts/ensure-aas-core.sh "the AAS import/export tests"
echo "==> asyncua (the edge agent's OPC UA tests run against the PyPI asyncua server)"
ensure DTFHE_ASYNCUA_PYTHON scripts/ensure-asyncua.sh "the edge agent's OPC UA tests"
echo "==> cargo test"
cargo test --workspace
echo "==> fuzz: a short run of every decoder's fuzz target (long run: crates/fuzz/README.md)"
# The runner `cargo test --workspace` built (for the fuzz crate's own tests), with the
# workspace's features: `cargo run -p dtfhe-fuzz` would resolve features for that package
# alone and rebuild the FHE, SQL and HTTP crates for it (minutes on two cores).
fuzz="${CARGO_TARGET_DIR:-target}/debug/dtfhe-fuzz"
[ -x "$fuzz" ] || { echo "error: $fuzz was not built by cargo test" >&2; exit 1; }
"$fuzz" run --seconds 1.5
echo "==> all checks passed"
