#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver are installed for the dashboard's browser
# tests (crates/dashboard/tests/browser.rs) and prints the chromedriver path on stdout
# (everything else goes to stderr):
#
#   export DTFHE_CHROMEDRIVER="$(scripts/ensure-chromium.sh)"
#
# - installs Debian's `chromium` and `chromium-driver` packages (apt-get) if either binary is
#   missing; nothing is downloaded outside the distribution's packages;
# - idempotent: exits at once when both are already there.
set -euo pipefail

log() { echo "ensure-chromium: $*" >&2; }

find_chromium() {
    command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || return 1
}

if ! find_chromium >/dev/null || ! command -v chromedriver >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        log "chromium/chromedriver not found and apt-get is unavailable: install them"
        exit 1
    fi
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    log "installing chromium and chromium-driver (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends chromium chromium-driver; } >&2
fi
if ! find_chromium >/dev/null || ! command -v chromedriver >/dev/null 2>&1; then
    log "chromium or chromedriver still missing after the install"
    exit 1
fi
log "$("$(find_chromium)" --version 2>/dev/null || echo chromium)"
command -v chromedriver
