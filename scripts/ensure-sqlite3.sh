#!/usr/bin/env bash
# Makes sure the sqlite3 command-line tool is installed: the audit tests use it to tamper
# with a store from the outside, as an attacker with file access would. Debian/Ubuntu only;
# elsewhere it only reports (the tests then fall back to a raw SQLite connection).
set -euo pipefail
if command -v sqlite3 >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    fi
    echo "==> installing sqlite3 (apt-get)"
    $SUDO apt-get install -y sqlite3 || { $SUDO apt-get update && $SUDO apt-get install -y sqlite3; }
else
    echo "sqlite3 is not installed and apt-get is unavailable; install it to run the outside-tampering tests with the real tool" >&2
fi
