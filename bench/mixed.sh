#!/usr/bin/env bash
# One node on PostgreSQL against one node on SQLite, under the same mixed load: of every ten
# requests, four `GET /deals?limit=50`, five `GET /me` and one `POST /deals`, from one wrk script.
# Both levd servers start fresh with the demo data; wrk alternates between them. PostgreSQL is a
# throw-away server from scripts/with-postgres.sh with fsync on, its default (levd's SQLite runs
# WAL with synchronous=NORMAL: a power cut can cost it the last commits, see README). Prints the
# ratio PostgreSQL / SQLite with its target (>= 0.7).
#
#   bench/mixed.sh                       # 8 s per run, 2 rounds
#   DURATION=10 ROUNDS=3 bench/mixed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
ORIGIN=levd-mixed
API=/api/external/v2

if [ "${1:-}" != "--inner" ]; then
    need wrk wrk
    need curl curl
    cargo build -q --release -p levd
    PG_FSYNC=on exec scripts/with-postgres.sh bash "$0" --inner
fi

LEVD="$PWD/target/release/levd"
OUT="$PWD/bench/out"
mkdir -p "$OUT"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
TMP=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT

start() { # NAME DATABASE_URL -> sets URL_<NAME> and KEY_<NAME>
    mkdir -p "$TMP/$1"
    (cd "$TMP/$1" && exec "$LEVD" --database-url "$2" serve --demo --rate-limits off --bind 127.0.0.1:0 \
        --metrics off --data-dir "$TMP/$1/data" >"$TMP/$1/out" 2>"$TMP/$1/log") &
    PIDS+=($!)
    for _ in $(seq 1 600); do
        grep -q 'lev_sk_' "$TMP/$1/out" 2>/dev/null && break
        sleep 0.1
    done
    grep -q 'lev_sk_' "$TMP/$1/out" || { echo "levd on $1 did not start" >&2; cat "$TMP/$1/log" >&2; exit 1; }
    printf -v "URL_$1" '%s' "http://$(grep -o 'listening on http://[0-9.:]*' "$TMP/$1/out" | head -1 | sed 's|.*http://||')"
    printf -v "KEY_$1" '%s' "$(grep -o 'lev_sk_[A-Za-z0-9]*' "$TMP/$1/out" | head -1)"
}

script() { # KEY -> the mixed wrk script
    cat <<LUA
local get = { ["Authorization"] = "Bearer $1", ["X-Origin-App"] = "$ORIGIN" }
local post = { ["Authorization"] = "Bearer $1", ["X-Origin-App"] = "$ORIGIN", ["Content-Type"] = "application/json" }
local body = '{"title": "Mixed run deal", "loan_amount": 2500000}'
local n = 0
request = function()
  n = n + 1
  local k = n % 10
  if k == 0 then return wrk.format("POST", "$API/deals", post, body) end
  if k <= 4 then return wrk.format("GET", "$API/deals?limit=50", get) end
  return wrk.format("GET", "$API/me", get)
end
LUA
}

start sqlite "sqlite://$TMP/sqlite/lev.db"
start postgres "$LEV_TEST_DATABASE_URL"
script "$KEY_sqlite" >"$TMP/sqlite.lua"
script "$KEY_postgres" >"$TMP/postgres.lua"

run() { # NAME -> "rps p50 p99"
    local url="URL_$1"
    wrk_run "$OUT/mixed-$STAMP-$1.txt" "$TMP/$1.lua" "${!url}"
}

echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown); wrk -t$THREADS -c$CONNECTIONS, ${ROUNDS}×${DURATION}s per backend, alternating"
for b in sqlite postgres; do
    url="URL_$b"
    timeout 30 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$TMP/$b.lua" "${!url}" >/dev/null
done
S=""
P=""
for round in $(seq 1 "$ROUNDS"); do
    S+="$(run sqlite)"$'\n'
    P+="$(run postgres)"$'\n'
    echo "round $round of $ROUNDS done" >&2
done
read -r s_rps s_p50 s_p99 <<<"$(printf '%s' "$S" | best)"
read -r p_rps p_p50 p_p99 <<<"$(printf '%s' "$P" | best)"
r=$(awk -v a="$p_rps" -v b="$s_rps" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
v=$(awk -v r="$r" 'BEGIN { print (r >= 0.7 ? "met" : "missed") }')
echo
echo "| case | PostgreSQL | SQLite | ratio | target | |"
echo "|---|---:|---:|---:|---:|---|"
echo "| mixed load, req/s (p50 $p_p50 ms vs $s_p50 ms; p99 $p_p99 ms vs $s_p99 ms) | $p_rps | $s_rps | $r | >= 0.7 | $v |"
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); raw wrk output: bench/out/mixed-$STAMP-*"
