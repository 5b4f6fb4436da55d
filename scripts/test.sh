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
echo "==> PostgreSQL (the store tests run on SQLite and on PostgreSQL)"
if [ -n "${DTFHE_TEST_PG_URL:-}" ]; then
    echo "using DTFHE_TEST_PG_URL from the environment"
elif url="$(scripts/ensure-postgres.sh)"; then
    export DTFHE_TEST_PG_URL="$url"
    echo "DTFHE_TEST_PG_URL=$url"
elif [ "${CI:-}" = "true" ]; then
    echo "error: no PostgreSQL server (scripts/ensure-postgres.sh failed); under CI the PostgreSQL tests must run" >&2
    exit 1
else
    echo "WARNING: no PostgreSQL server: the PostgreSQL half of the store and audit tests is SKIPPED" >&2
fi
echo "==> Chromium (the dashboard's browser tests)"
if [ -n "${DTFHE_CHROMEDRIVER:-}" ]; then
    echo "using DTFHE_CHROMEDRIVER from the environment"
elif driver="$(scripts/ensure-chromium.sh)"; then
    export DTFHE_CHROMEDRIVER="$driver"
    echo "DTFHE_CHROMEDRIVER=$driver"
elif [ "${CI:-}" = "true" ]; then
    echo "error: no chromium/chromedriver (scripts/ensure-chromium.sh failed); under CI the browser tests must run" >&2
    exit 1
else
    echo "WARNING: no chromium/chromedriver: the dashboard's browser test is SKIPPED" >&2
fi
echo "==> Mosquitto (the edge agent's MQTT tests run against a real broker)"
if [ -n "${DTFHE_MOSQUITTO:-}" ]; then
    echo "using DTFHE_MOSQUITTO from the environment"
elif broker="$(scripts/ensure-mosquitto.sh)"; then
    export DTFHE_MOSQUITTO="$broker"
    echo "DTFHE_MOSQUITTO=$broker"
elif [ "${CI:-}" = "true" ]; then
    echo "error: no mosquitto broker (scripts/ensure-mosquitto.sh failed); under CI the MQTT tests must run" >&2
    exit 1
else
    echo "WARNING: no mosquitto broker: the edge agent's MQTT tests are SKIPPED" >&2
fi
echo "==> cargo test"
cargo test --workspace
echo "==> fuzz: a short run of every decoder's fuzz target (long run: crates/fuzz/README.md)"
cargo run -q -p dtfhe-fuzz -- run --seconds 1.5
echo "==> all checks passed"
