#!/usr/bin/env bash
# Makes sure a private PostgreSQL server for the tests is running and prints a connection URL
# for its admin role on stdout (everything else goes to stderr):
#
#   export DTFHE_TEST_PG_URL="$(scripts/ensure-postgres.sh)"
#
# - installs Debian's `postgresql` package (apt-get) if initdb / pg_ctl are missing;
# - creates a throw-away cluster (trust authentication, fsync off: test data only) in
#   $DTFHE_PG_DATA (default /tmp/dtfhe-pg/data), owned by the `postgres` OS user when run as
#   root;
# - starts it on 127.0.0.1:$DTFHE_PG_PORT (default 54329, socket in /tmp) unless a server
#   from an earlier run already answers there. Idempotent; never touches the machine's own
#   server on :5432.
set -euo pipefail

PORT="${DTFHE_PG_PORT:-54329}"
BASE="${DTFHE_PG_BASE:-/tmp/dtfhe-pg}"
DATA="${DTFHE_PG_DATA:-$BASE/data}"
LOG="$BASE/server.log"
URL="postgres://postgres@127.0.0.1:${PORT}/postgres"

log() { echo "ensure-postgres: $*" >&2; }

find_bin() {
    # Debian puts the server binaries under /usr/lib/postgresql/<major>/bin.
    local name="$1" p
    if p="$(command -v "$name" 2>/dev/null)"; then
        echo "$p"
        return 0
    fi
    for p in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$p/$name" ]; then
            echo "$p/$name"
            return 0
        fi
    done
    return 1
}

if ! find_bin initdb >/dev/null || ! find_bin pg_ctl >/dev/null || ! find_bin pg_isready >/dev/null; then
    if ! command -v apt-get >/dev/null 2>&1; then
        log "initdb/pg_ctl not found and apt-get is unavailable: install PostgreSQL"
        exit 1
    fi
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    log "installing postgresql (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    { $SUDO apt-get update && $SUDO apt-get install -y postgresql; } >&2
fi
INITDB="$(find_bin initdb)"
PG_CTL="$(find_bin pg_ctl)"
PG_ISREADY="$(find_bin pg_isready)"

if "$PG_ISREADY" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres; then
    log "server already running on 127.0.0.1:$PORT"
    echo "$URL"
    exit 0
fi

# initdb and the server refuse to run as root: use the `postgres` OS user when we are root.
AS=()
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir "$BASE" --shell /bin/sh postgres
    fi
    AS=(runuser -u postgres --)
fi

mkdir -p "$BASE"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$BASE"; fi
if [ ! -s "$DATA/PG_VERSION" ]; then
    log "creating a test cluster in $DATA"
    rm -rf "$DATA"
    "${AS[@]}" "$INITDB" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2 \
        || "${AS[@]}" "$INITDB" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >&2
fi
log "starting the test server on 127.0.0.1:$PORT"
# A stale pid file from a killed server would stop pg_ctl: the server is not answering, so
# remove it.
rm -f "$DATA/postmaster.pid"
"${AS[@]}" "$PG_CTL" -D "$DATA" -l "$LOG" -w -t 60 start \
    -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >&2 \
    || { log "server did not start; log:"; tail -n 30 "$LOG" >&2 || true; exit 1; }
for _ in $(seq 1 60); do
    if "$PG_ISREADY" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres; then
        echo "$URL"
        exit 0
    fi
    sleep 0.5
done
log "server on 127.0.0.1:$PORT does not answer; log:"
tail -n 30 "$LOG" >&2 || true
exit 1
