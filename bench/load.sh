#!/usr/bin/env bash
# Load figures for BENCHMARKS.md: a release levd with demo data on loopback, one wrk run per
# endpoint, a markdown table of requests/s and p50/p99 latency on stdout.
#
#   bench/load.sh                 # 10 s per endpoint
#   DURATION=30 bench/load.sh     # longer runs
#
# Everything stays on 127.0.0.1; the server, its database and the minted key live in a temp dir
# that is removed on exit. Raw wrk output and the table are kept in bench/out/ (gitignored).
set -euo pipefail

DURATION="${DURATION:-10}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-16}"
ISS="https://idp.load.invalid/"
AUD="levd-load"
ORIGIN="levd-load"

cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="$ROOT/bench/out"
mkdir -p "$OUT"

if ! command -v wrk >/dev/null; then
    echo "wrk not found; installing it with apt-get" >&2
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update && apt-get install -y wrk
    else
        sudo apt-get update && sudo apt-get install -y wrk
    fi
fi

# The machine may be shared: record how busy it was, and what was measured, next to the figures.
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD 2>/dev/null; then REVISION="$REVISION + uncommitted changes"; fi

cargo build --release -p levd --bins --examples

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
        # Graceful shutdown drains open requests; a wedged server must not hang the script.
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The demo data's admin user Ana has the subject `demo|ana`.
JWT="$(target/release/examples/mint_jwt --jwks "$TMP/jwks.json" --iss "$ISS" --aud "$AUD" --sub 'demo|ana')"

# Port 0: the server picks a free port and prints it, so nothing can take it in between.
# Request logs go to a file as they would in production; the file is dropped with $TMP.
target/release/levd --database-url "sqlite://$TMP/lev.db" serve --demo --rate-limits off \
    --bind 127.0.0.1:0 --jwt-issuer "$ISS" --jwt-audience "$AUD" --jwks-file "$TMP/jwks.json" \
    >"$TMP/server.out" 2>"$TMP/server.log" &
SERVER_PID=$!

ADDR=""
API_KEY=""
for _ in $(seq 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "levd exited during start-up:" >&2
        cat "$TMP/server.out" "$TMP/server.log" >&2
        exit 1
    fi
    ADDR="$(sed -n 's|.* listening on http://\([0-9.:]*\).*|\1|p' "$TMP/server.out")"
    API_KEY="$(sed -n 's|^Demo API key (shown once): \(lev_sk_[A-Za-z0-9]*\)$|\1|p' "$TMP/server.out")"
    if [ -n "$ADDR" ] && [ -n "$API_KEY" ] \
        && curl -fsS -o /dev/null "http://$ADDR/api/external/v2/health"; then
        break
    fi
    sleep 0.1
done
if [ -z "$ADDR" ] || [ -z "$API_KEY" ]; then
    echo "levd did not come up within 30 s:" >&2
    cat "$TMP/server.out" "$TMP/server.log" >&2
    exit 1
fi
BASE="http://$ADDR/api/external/v2"
echo "levd on $ADDR; ${DURATION}s per endpoint, $THREADS threads, $CONNECTIONS connections" >&2

# name | path | credential (none, key, jwt) | wrk script
ENDPOINTS=(
    "GET /health|/health|none|"
    "GET /me (API key)|/me|key|"
    "GET /me (JWT)|/me|jwt|"
    "GET /deals?limit=50|/deals?limit=50|key|"
    "POST /deals|/deals|key|bench/post_deal.lua"
    "MCP tools/call list_deals (API key)|/mcp|key|bench/mcp_list_deals.lua"
)

# /mcp lives at the root, every other path under the API prefix.
url_for() {
    case "$1" in
        /mcp*) echo "http://$ADDR$1" ;;
        *) echo "$BASE$1" ;;
    esac
}

headers_for() {
    case "$1" in
        none) printf '%s\n' "X-Origin-App: $ORIGIN" ;;
        key) printf '%s\n' "X-Origin-App: $ORIGIN" "Authorization: Bearer $API_KEY" ;;
        # Ana belongs to two accounts, so a JWT request names the one it acts for.
        jwt) printf '%s\n' "X-Origin-App: $ORIGIN" "Authorization: Bearer $JWT" "X-Active-Account: harbor-capital" ;;
    esac
}

# One checked request per endpoint first: a misconfiguration should fail here, not be measured
# as a table of fast 401s.
for entry in "${ENDPOINTS[@]}"; do
    IFS='|' read -r name path cred script <<<"$entry"
    args=()
    while IFS= read -r h; do args+=(-H "$h"); done < <(headers_for "$cred")
    if [ "$path" = /mcp ]; then
        args+=(-X POST -H "Content-Type: application/json" -H "Accept: application/json, text/event-stream"
            -H "MCP-Protocol-Version: 2025-11-25"
            --data '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_deals","arguments":{"limit":50}}}')
    elif [ -n "$script" ]; then
        args+=(-X POST -H "Content-Type: application/json" --data '{"title":"Smoke test deal"}')
    fi
    status="$(curl -sS -o "$TMP/smoke.json" -w '%{http_code}' "${args[@]}" "$(url_for "$path")")"
    case "$status" in
        2??) ;;
        *) echo "$name answered $status before the load run:" >&2; cat "$TMP/smoke.json" >&2; exit 1 ;;
    esac
done

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
TABLE="$OUT/load-$STAMP.md"
{
    echo "| endpoint | requests/s | p50 | p99 | non-2xx | socket errors |"
    echo "|---|---:|---:|---:|---:|---:|"
} >"$TABLE"

problems=0
for entry in "${ENDPOINTS[@]}"; do
    IFS='|' read -r name path cred script <<<"$entry"
    args=(-t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency)
    while IFS= read -r h; do args+=(-H "$h"); done < <(headers_for "$cred")
    if [ -n "$script" ]; then args+=(-s "$script"); fi
    raw="$OUT/wrk-$STAMP-$(echo "$name" | tr -c 'A-Za-z0-9\n' '_' | tr -s '_').txt"
    echo "wrk: $name" >&2
    timeout $((DURATION + 30)) wrk "${args[@]}" "$(url_for "$path")" >"$raw"

    rps="$(awk '/^Requests\/sec:/ {print $2}' "$raw")"
    p50="$(awk '$1 == "50%" {print $2}' "$raw")"
    p99="$(awk '$1 == "99%" {print $2}' "$raw")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$raw")"
    sockets="$(sed -n 's/.*Socket errors: \(.*\)/\1/p' "$raw")"
    if [ -n "$non2xx" ] || [ -n "$sockets" ]; then problems=1; fi
    printf '| %s | %s | %s | %s | %s | %s |\n' \
        "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" "${non2xx:-0}" "${sockets:-none}" >>"$TABLE"
done

{
    echo
    echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s per endpoint; levd at $REVISION;" \
        "load average (1/5/15 min) when the script started: $LOAD_BEFORE, after the last run: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$TABLE"
cat "$TABLE"
echo "raw wrk output: $OUT/wrk-$STAMP-*.txt" >&2
if [ "$problems" -ne 0 ]; then
    echo "some requests failed (non-2xx responses or socket errors); see the raw output" >&2
    exit 1
fi
