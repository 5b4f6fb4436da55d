#!/usr/bin/env bash
# Makes sure Debian's Mosquitto MQTT broker is installed for the edge agent's MQTT tests
# (crates/cli/tests/mqtt_network.rs: each test starts its own broker on a free loopback port
# with its own password and ACL files) and prints the broker's path on stdout (everything
# else goes to stderr):
#
#   export DTFHE_MOSQUITTO="$(scripts/ensure-mosquitto.sh)"
#
# - installs the `mosquitto` package (apt-get) if the broker or mosquitto_passwd is missing;
#   nothing is downloaded outside the distribution's packages;
# - the package's own service is not needed (the tests start their brokers themselves);
# - idempotent: exits at once when both are already there.
set -euo pipefail

log() { echo "ensure-mosquitto: $*" >&2; }

find_broker() {
    command -v mosquitto 2>/dev/null || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || return 1
}

if ! find_broker >/dev/null || ! command -v mosquitto_passwd >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        log "mosquitto not found and apt-get is unavailable: install it"
        exit 1
    fi
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    log "installing mosquitto (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends mosquitto mosquitto-clients; } >&2
fi
if ! find_broker >/dev/null || ! command -v mosquitto_passwd >/dev/null 2>&1; then
    log "mosquitto or mosquitto_passwd still missing after the install"
    exit 1
fi
log "$({ "$(find_broker)" -h 2>/dev/null || true; } | head -n 1)"
find_broker
