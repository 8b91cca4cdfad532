#!/usr/bin/env bash
# levd against the machine, in one run: levd (release build, demo data, rate limits off) and
# levd-baseline — a bare axum server answering the very bytes levd answered, captured from levd
# at the start of the run — on loopback, wrk alternating between them (levd, baseline, levd,
# baseline …) so both see the same machine. Prints each ratio with its target.
#
#   bench/compare.sh                          # 8 s per run, 2 rounds
#   DURATION=10 ROUNDS=3 bench/compare.sh
#   DEPTH=1 bench/compare.sh                  # also bench/depth.sh (10^6 deals, SQLite and PostgreSQL)
#   INPROCESS=1 bench/compare.sh              # also the in-process request-path bench (criterion)
#   MIXED=0 bench/compare.sh                  # without bench/mixed.sh (PostgreSQL vs SQLite, mixed load)
#
# Everything stays on 127.0.0.1 and in a temp dir removed on exit; raw wrk output is kept in
# bench/out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
ORIGIN=levd-compare

need wrk wrk
need curl curl

cargo build -q --release -p levd -p levd-baseline
LEVD="$PWD/target/release/levd"
BASELINE="$PWD/target/release/levd-baseline"
OUT="$PWD/bench/out"
mkdir -p "$OUT"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"

TMP=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT

wait_for() { # FILE PATTERN
    for _ in $(seq 1 300); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1" >&2
    cat "$1" >&2
    exit 1
}

# levd with the demo data.
mkdir -p "$TMP/levd"
(cd "$TMP/levd" && exec "$LEVD" --database-url "sqlite://$TMP/levd/lev.db" serve --demo --rate-limits off \
    --bind 127.0.0.1:0 --metrics off >"$TMP/levd/out" 2>"$TMP/levd/log") &
PIDS+=($!)
wait_for "$TMP/levd/out" 'listening on'
wait_for "$TMP/levd/out" 'lev_sk_'
LEVD_URL="http://$(grep -o 'listening on http://[0-9.:]*' "$TMP/levd/out" | head -1 | sed 's|.*http://||')"
KEY=$(grep -o 'lev_sk_[A-Za-z0-9]*' "$TMP/levd/out" | head -1)
API=/api/external/v2

# The bodies levd answers, served by the baseline from memory.
capture() { # PATH FILE
    curl -fsS -H "Authorization: Bearer $KEY" -H "X-Origin-App: $ORIGIN" "$LEVD_URL$1" -o "$2"
}
capture "$API/deals?limit=50" "$TMP/deals.json"
capture "$API/me" "$TMP/me.json"
"$BASELINE" --bind 127.0.0.1:0 "$API/deals=$TMP/deals.json" "$API/me=$TMP/me.json" >"$TMP/baseline.out" 2>&1 &
PIDS+=($!)
wait_for "$TMP/baseline.out" 'listening on'
BASE_URL="http://$(grep -o 'listening on http://[0-9.:]*' "$TMP/baseline.out" | head -1 | sed 's|.*http://||')"

cat >"$TMP/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["X-Origin-App"] = "$ORIGIN"
LUA
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["X-Origin-App"] = "$ORIGIN"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title": "Compare run deal", "loan_amount": 2500000}'
LUA


run() { # LABEL SCRIPT URL -> "rps p50_ms p99_ms"
    wrk_run "$OUT/compare-$STAMP-$(echo "$1" | tr -c 'A-Za-z0-9' '_').txt" "$2" "$3"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown); wrk -t$THREADS -c$CONNECTIONS, ${ROUNDS}×${DURATION}s per case, levd and baseline alternating"

# Warm both.
timeout 30 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$TMP/get.lua" "$LEVD_URL$API/deals?limit=50" >/dev/null
timeout 30 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$BASE_URL$API/deals?limit=50" >/dev/null

declare -A R
for round in $(seq 1 "$ROUNDS"); do
    for case in deals me; do
        path="$API/deals?limit=50"; [ "$case" = me ] && path="$API/me"
        R[levd_$case]+="$(run "levd $case" "$TMP/get.lua" "$LEVD_URL$path")"$'\n'
        R[base_$case]+="$(run "baseline $case" "$TMP/get.lua" "$BASE_URL$path")"$'\n'
    done
    R[post]+="$(run "levd post" "$TMP/post.lua" "$LEVD_URL$API/deals")"$'\n'
    echo "round $round of $ROUNDS done" >&2
done

read -r ld_rps ld_p50 ld_p99 <<<"$(printf '%s' "${R[levd_deals]}" | best)"
read -r bd_rps bd_p50 bd_p99 <<<"$(printf '%s' "${R[base_deals]}" | best)"
read -r lm_rps lm_p50 lm_p99 <<<"$(printf '%s' "${R[levd_me]}" | best)"
read -r bm_rps bm_p50 bm_p99 <<<"$(printf '%s' "${R[base_me]}" | best)"
read -r p_rps p_p50 p_p99 <<<"$(printf '%s' "${R[post]}" | best)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
verdict() { # VALUE OP TARGET
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == ">=" ? v >= t : v <= t); print (ok ? "met" : "missed") }'
}
row() { # CASE LEVD BASELINE RATIO OP TARGET
    printf '| %s | %s | %s | %s | %s %s | %s |\n' "$1" "$2" "$3" "$4" "$5" "$6" "$(verdict "$4" "$5" "$6")"
}

echo
echo "| case | levd | baseline | ratio | target | |"
echo "|---|---:|---:|---:|---:|---|"
row "GET /deals?limit=50, req/s (p50 ${ld_p50} ms vs ${bd_p50} ms)" "$ld_rps" "$bd_rps" "$(ratio "$ld_rps" "$bd_rps")" ">=" 0.15
row "GET /me with an API key, req/s (p50 ${lm_p50} ms vs ${bm_p50} ms)" "$lm_rps" "$bm_rps" "$(ratio "$lm_rps" "$bm_rps")" ">=" 0.30
row "POST /deals: p99 / p50 (ms)" "$p_p99 / $p_p50" "" "$(ratio "$p_p99" "$p_p50")" "<=" 10
row "POST /deals req/s / GET /me req/s" "$p_rps" "$lm_rps" "$(ratio "$p_rps" "$lm_rps")" ">=" 0.3
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); raw wrk output: bench/out/compare-$STAMP-*"

if [ "${MIXED:-1}" = 1 ]; then
    echo
    echo "== PostgreSQL against SQLite, one node each, the same mixed load (target >= 0.7)"
    DURATION="$DURATION" ROUNDS="$ROUNDS" bench/mixed.sh
fi
if [ "${DEPTH:-0}" = 1 ]; then
    echo
    echo "== a cursor page of an account with 10^6 deals vs one with 10^3 (target >= 0.8), and PostgreSQL"
    bench/depth.sh
fi
if [ "${INPROCESS:-0}" = 1 ]; then
    echo
    echo "== the request path in process (target: fixed cost <= 2 µs for an API key and a repeated JWT)"
    cargo bench -q -p levd --bench middleware 2>&1 | tail -n 20
fi
