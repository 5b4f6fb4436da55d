#!/usr/bin/env bash
# The networked join's latency (issue 17): a real `dtfhe serve`, three `dtfhe trustee`
# processes, two agents of two owners ingesting the vendored AI4I data split by columns
# (schemas/ai4i_process.toml, schemas/ai4i_service.toml: 10,000 products each, in shared
# product lanes), then an analyst's JOIN ... ON product_id, timed end to end (plan, compute
# on the platform, every trustee re-deriving it, shares, combination), RUNS times; prints
# each run and the median. Release build; everything on loopback in a temporary directory.
#
#   scripts/bench-join.sh [RUNS] [PRESET]      (defaults: 3, bfv-16384)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
preset="${2:-bfv-16384}"
cargo build --release -q -p dtfhe-cli
bin="$PWD/target/release/dtfhe"
tmp="$(mktemp -d -t dtfhe-bench-join-XXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
id() { "$bin" identity new --name "$1" --out "$tmp/$1.id"; }
admin_key="$(id root)"
"$bin" serve --dir "$tmp/platform" --listen "127.0.0.1:$port" --admin "root=$admin_key" \
    --trustees a,b,c --min-group-size 5 --preset "$preset" >"$tmp/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "$url/v1/health" >/dev/null 2>&1 && break; sleep 0.2; done
reg() { "$bin" admin register --server "$url" --identity "$tmp/root.id" --name "$1" --role "$2" \
    --public-key "$(id "$1")" ${3:+--datasets "$3"} >/dev/null; }
for t in a b c; do reg "$t" trustee; done
reg analyst analyst ai4i_process,ai4i_service
reg manufacturer source ai4i_process
reg service-partner source ai4i_service
for t in a b c; do
    "$bin" trustee --dir "$tmp/trustees/$t" --server "$url" --identity "$tmp/$t.id" \
        --poll-ms 100 >"$tmp/trustee-$t.log" 2>&1 &
    pids+=($!)
done
for _ in $(seq 600); do
    curl -fs "$url/v1/health" | grep -q '"ready":true' && break; sleep 0.5
done
csv=data/ai4i2020/ai4i2020.csv
for who in manufacturer:ai4i_process service-partner:ai4i_service; do
    src="${who%%:*}"; schema="${who##*:}"
    start=$(date +%s.%N)
    "$bin" agent --server "$url" --identity "$tmp/$src.id" --schema "schemas/$schema.toml" \
        --csv "$csv" >"$tmp/agent-$src.log" 2>&1
    echo "ingest $schema (10,000 products) as $src: $(echo "$(date +%s.%N) - $start" | bc) s"
done
sql="SELECT m.type, COUNT(*), AVG(m.torque), CORR(m.torque, s.failure), REGR_SLOPE(s.failure, m.tool_wear) FROM ai4i_process m JOIN ai4i_service s ON m.product_id = s.product_id GROUP BY m.type"
times=()
for r in $(seq "$runs"); do
    start=$(date +%s.%N)
    "$bin" query --server "$url" --identity "$tmp/analyst.id" --timeout 600 "$sql" >"$tmp/out.txt" 2>"$tmp/err.txt" \
        || { cat "$tmp/err.txt"; exit 1; }
    t=$(echo "$(date +%s.%N) - $start" | bc)
    times+=("$t")
    echo "run $r: join over 10,000 products, GROUP BY type: $t s"
done
cat "$tmp/out.txt"
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "median join latency (" NR " runs, '"$preset"'): " a[int((NR+1)/2)] " s"}'
