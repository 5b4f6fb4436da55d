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
echo "==> cargo test"
cargo test --workspace
echo "==> all checks passed"
