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
echo "==> cargo test"
cargo test --workspace
echo "==> all checks passed"
