#!/usr/bin/env bash
# Compares two levd binaries in one run: each serves its own demo database on loopback, and wrk
# alternates between them per endpoint (A, B, A, B …), so both see the same machine. Prints a
# markdown table of requests/s, p50 and p99 per binary and the ratio B/A.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY            # 8 s per run, 2 rounds
#   DURATION=10 ROUNDS=3 bench/ab.sh A B
#
# Rate limits are off; the request is the demo API key's. Everything stays on 127.0.0.1 and in a
# temp dir that is removed on exit.
set -euo pipefail

A=${1:?usage: bench/ab.sh BINARY_A BINARY_B}
B=${2:?usage: bench/ab.sh BINARY_A BINARY_B}
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

TMP=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT

start() { # name binary -> sets PORT_name, KEY_name
    local name=$1 bin=$2
    mkdir -p "$TMP/$name"
    (cd "$TMP/$name" && exec "$bin" --database-url "sqlite://$TMP/$name/lev.db" serve --demo \
        --rate-limits off --bind 127.0.0.1:0 >"$TMP/$name/out" 2>"$TMP/$name/log") &
    PIDS+=($!)
    for _ in $(seq 1 300); do
        grep -q 'lev_sk_' "$TMP/$name/out" 2>/dev/null && grep -q 'listening on' "$TMP/$name/out" && break
        sleep 0.2
    done
    printf -v "PORT_$name" '%s' "$(grep -o 'listening on http://[0-9.:]*' "$TMP/$name/out" | head -1 | sed 's/.*://')"
    printf -v "KEY_$name" '%s' "$(grep -o 'lev_sk_[A-Za-z0-9]*' "$TMP/$name/out" | head -1)"
}
start a "$A"
start b "$B"

ENDPOINTS=("/api/external/v2/me" "/api/external/v2/deals?limit=50" "/api/external/v2/health")
cat >"$TMP/hdr.lua" <<'LUA'
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
wrk.headers["X-Origin-App"] = "levd-ab"
LUA

run() { # port key path -> "rps p50_ms p99_ms"
    KEY=$2 wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$TMP/hdr.lua" \
        "http://127.0.0.1:$1$3" >"$TMP/wrk" 2>&1
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/wrk")
    p50=$(awk '$1=="50%" {print $2}' "$TMP/wrk")
    p99=$(awk '$1=="99%" {print $2}' "$TMP/wrk")
    echo "$rps $p50 $p99"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); A=$A; B=$B; ${ROUNDS}×${DURATION}s per endpoint and binary, wrk -t$THREADS -c$CONNECTIONS"
echo
echo "| endpoint | A req/s | A p50 | A p99 | B req/s | B p50 | B p99 | B/A req/s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for ep in "${ENDPOINTS[@]}"; do
    sum_a=0; sum_b=0; last_a=""; last_b=""
    for _ in $(seq 1 "$ROUNDS"); do
        read -r ra pa qa <<<"$(run "$PORT_a" "$KEY_a" "$ep")"
        read -r rb pb qb <<<"$(run "$PORT_b" "$KEY_b" "$ep")"
        sum_a=$(python3 -c "print($sum_a + $ra)"); sum_b=$(python3 -c "print($sum_b + $rb)")
        last_a="$pa | $qa"; last_b="$pb | $qb"
    done
    python3 - "$ep" "$sum_a" "$sum_b" "$ROUNDS" "$last_a" "$last_b" <<'PY'
import sys
ep, a, b, n, la, lb = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
print(f"| `GET {ep.replace('/api/external/v2', '')}` | {a/n:,.0f} | {la} | {b/n:,.0f} | {lb} | {b/a:.2f} |")
PY
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg) (p50/p99 from the last round)"
