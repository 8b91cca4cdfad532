#!/usr/bin/env bash
# Cost of a list page at depth: one account with 1 000 000 deals, inserted with plain SQL into a
# database migrated by `levd migrate`, then wrk on the first cursor page and on the last one
# (cursor for id N-50), on SQLite and on PostgreSQL (a throw-away server from
# scripts/with-postgres.sh). A third row, the first page of an account with 1 000 deals in the
# same database, shows what the page costs when the account is small. Loopback only.
#
#   bench/depth.sh                      # 1 000 000 rows, 10 s per wrk run
#   ROWS=100000 DURATION=5 bench/depth.sh
#
# Prints a markdown table; it and the raw wrk output are kept in bench/out/ (gitignored).
set -euo pipefail

ROWS="${ROWS:-1000000}"
DURATION="${DURATION:-10}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-16}"
ORIGIN="levd-depth"
SMALL_ROWS=1000

cd "$(dirname "$0")/.."
. bench/lib.sh
ROOT="$PWD"
OUT="$ROOT/bench/out"
LEVD="$ROOT/target/release/levd"
mkdir -p "$OUT"


# One deal row per n; the columns the server reads back must hold valid values.
# search_text is the case-folded title, as the server writes it.
deal_select() { # ACCOUNT_ID N_EXPR
    echo "$1, 'Depth deal ' || $2, 1250000, 'permanent', 'acquisition', 'value_add', \
'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 0, 'depth deal ' || $2"
}
COLUMNS_SQL="owner_account_id, title, loan_amount, loan_type, transaction_type, business_plan, \
created_at, updated_at, archived, search_text"

sql() { # runs SQL from stdin against $DB
    case "$DB" in
        sqlite://*) sqlite3 -batch -bail "${DB#sqlite://}" ;;
        *) psql -q -X -v ON_ERROR_STOP=1 -t -A "$DB" ;;
    esac
}

bulk_insert() { # ACCOUNT_ID ROWS
    case "$DB" in
        sqlite://*)
            sql <<SQL
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $2)
INSERT INTO deals ($COLUMNS_SQL) SELECT $(deal_select "$1" n) FROM g;
SQL
            ;;
        *)
            sql <<SQL
INSERT INTO deals ($COLUMNS_SQL) SELECT $(deal_select "$1" g) FROM generate_series(1, $2) AS g;
SQL
            ;;
    esac
}

admin() { "$LEVD" --database-url "$DB" "$@"; }

tenant() { # SLUG -> prints "ACCOUNT_ID KEY"
    local id key
    id="$(admin admin account create --slug "$1" --name "$1" --tier enterprise | jq -r .id)"
    admin admin member add --email depth@bench.invalid --account "$1" --role admin >/dev/null
    key="$(admin admin key create --email depth@bench.invalid --account "$1" --label depth | jq -r .api_key)"
    echo "$id $key"
}

SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

wrk_row() { # BACKEND LABEL KEY URL
    local raw rps p50 p99 non2xx sockets
    raw="$OUT/depth-$STAMP-$(echo "$1 $2" | tr -c 'A-Za-z0-9\n' '_' | tr -s '_').txt"
    echo "wrk: $1, $2" >&2
    timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency \
        -H "Authorization: Bearer $3" -H "X-Origin-App: $ORIGIN" "$4" >"$raw"
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$raw")"
    p50="$(awk '$1 == "50%" {print $2}' "$raw")"
    p99="$(awk '$1 == "99%" {print $2}' "$raw")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$raw")"
    sockets="$(sed -n 's/.*Socket errors: \(.*\)/\1/p' "$raw")"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "${rps:-?}" "${p50:-?}" "${p99:-?}" \
        "${non2xx:-0} non-2xx${sockets:+, socket errors: $sockets}" >>"$TABLE"
    echo "$rps $(to_ms "${p50:-nan}")"
}


# Best of 5 runs of one statement, in milliseconds, timed by the database's own client: psql's
# \timing (wall time), sqlite3's .timer user + sys (its wall time has only 1 ms resolution).
sql_ms() { # SQL
    case "$DB" in
        sqlite://*)
            for _ in 1 2 3 4 5; do printf '.timer on\n%s;\n' "$1"; done | sql \
                | awk '/^Run Time:/ {v = ($6 + $8) * 1000; if (best == "" || v < best) best = v} END {printf "%.2f", best}'
            ;;
        *)
            for _ in 1 2 3 4 5; do printf '\\timing on\n%s;\n' "$1"; done | sql \
                | awk '/^Time:/ {v = $2; if (best == "" || v < best) best = v} END {printf "%.2f", best}'
            ;;
    esac
}

run_backend() { # LABEL
    local label="$1" deep_id token addr base small_key depth_id depth_key small_id t0 first last
    echo "== $label: migrate, seed, insert $ROWS deals" >&2
    admin migrate >/dev/null
    admin admin user create --email depth@bench.invalid --first-name Depth >/dev/null
    read -r depth_id depth_key < <(tenant depth)
    read -r small_id small_key < <(tenant small)
    t0=$SECONDS
    bulk_insert "$depth_id" "$ROWS"
    bulk_insert "$small_id" "$SMALL_ROWS"
    # Planner statistics as a database that grew over time would have them (PostgreSQL also
    # needs the visibility map for index-only scans).
    case "$DB" in
        sqlite://*) echo "ANALYZE;" | sql ;;
        *) echo "VACUUM ANALYZE deals;" | sql ;;
    esac
    echo "   inserted in $((SECONDS - t0)) s" >&2
    deep_id="$(echo "SELECT MAX(id) - 50 FROM deals WHERE owner_account_id = $depth_id;" | sql)"
    token="$(printf '{"id":%s}' "$deep_id" | base64 -w0)"
    # The statements of one list page (crates/store/src/deals.rs, list_deals), without HTTP: the
    # keyset page and the count of the account's deals that every page also reports as total.
    local page0 paged count
    page0="$(sql_ms "SELECT * FROM deals WHERE owner_account_id = $depth_id ORDER BY id ASC LIMIT 51")"
    paged="$(sql_ms "SELECT * FROM deals WHERE owner_account_id = $depth_id AND id > $deep_id ORDER BY id ASC LIMIT 51")"
    count="$(sql_ms "SELECT COUNT(*) FROM deals WHERE owner_account_id = $depth_id")"
    printf '| %s | %s | %s | %s |\n' "$label" "$page0" "$paged" "$count" >>"$TMP/sql.md"

    "$LEVD" --database-url "$DB" serve --no-migrate --rate-limits off --bind 127.0.0.1:0 \
        >"$TMP/server.out" 2>"$TMP/server.log" &
    SERVER_PID=$!
    addr=""
    for _ in $(seq 300); do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/server.out" "$TMP/server.log" >&2; exit 1; }
        addr="$(sed -n 's|.* listening on http://\([0-9.:]*\).*|\1|p' "$TMP/server.out")"
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "levd did not come up" >&2; exit 1; }
    base="http://$addr/api/external/v2"

    # The deep page must really be the last 50 rows, or the comparison means nothing.
    first="$(curl -fsS "$base/deals?limit=50&cursor=$token" -H "Authorization: Bearer $depth_key" \
        -H "X-Origin-App: $ORIGIN" | jq -r '[.data[0].id, (.data | length), .pagination.total] | @tsv')"
    last="$(curl -fsS "$base/deals?limit=50" -H "Authorization: Bearer $depth_key" \
        -H "X-Origin-App: $ORIGIN" | jq -r '[.data[0].id, (.data | length), .pagination.total] | @tsv')"
    echo "   deep page (cursor $token): first id, rows, total = $first; page 0: $last" >&2

    # Warm caches and connection pools first; this run is not measured.
    timeout 30 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $depth_key" \
        -H "X-Origin-App: $ORIGIN" "$base/deals?limit=50" >/dev/null
    local r0 rd
    r0="$(wrk_row "$label" "row 0: GET /deals?limit=50" "$depth_key" "$base/deals?limit=50")"
    rd="$(wrk_row "$label" "row $deep_id: GET /deals?limit=50&cursor=$token" "$depth_key" \
        "$base/deals?limit=50&cursor=$token")"
    wrk_row "$label" "row 0, account with $SMALL_ROWS deals" "$small_key" "$base/deals?limit=50" >/dev/null
    echo "$label $r0 $rd" >>"$TMP/ratios"
    stop_server
}

if [ "${1:-}" = "--postgres-inner" ]; then
    # Second half, run by scripts/with-postgres.sh: the caller's table and stamp are passed on.
    TABLE="$2"
    STAMP="$3"
    TMP="$4"
    trap stop_server EXIT
    psql -q -X -v ON_ERROR_STOP=1 "$LEV_TEST_DATABASE_URL" -c "CREATE DATABASE levd_depth"
    DB="${LEV_TEST_DATABASE_URL%/*}/levd_depth"
    run_backend "PostgreSQL"
    exit 0
fi

need wrk wrk
need sqlite3 sqlite3
need jq jq
cargo build --release -p levd --bins --examples

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
TABLE="$OUT/depth-$STAMP.md"
TMP="$(mktemp -d)"
cleanup() { stop_server; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
{
    echo "| backend | page | requests/s | p50 | p99 | errors |"
    echo "|---|---|---:|---:|---:|---|"
} >"$TABLE"

DB="sqlite://$TMP/depth.db"
run_backend "SQLite"
scripts/with-postgres.sh bash "$0" --postgres-inner "$TABLE" "$STAMP" "$TMP"

{
    echo
    echo "The statements alone (best of 5, ms; sqlite3 .timer user+sys, psql \\timing; one client):"
    echo
    echo "| backend | page at row 0 | page at row $((ROWS - 50)) | COUNT(*) of the account |"
    echo "|---|---:|---:|---:|"
    cat "$TMP/sql.md"
} >>"$TABLE"
cat "$TABLE"
echo
echo "Deep page / first page (≈ 1 means depth costs nothing):"
while read -r label rps0 p500 rpsd p50d; do
    awk -v l="$label" -v a="$rps0" -v b="$rpsd" -v c="$p500" -v d="$p50d" \
        'BEGIN { printf "  %s: requests/s ratio %.2f, p50 ratio %.2f\n", l, (a > 0 ? b / a : 0), (c > 0 ? d / c : 0) }'
done <"$TMP/ratios"
echo "$ROWS rows; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; raw output: $OUT/depth-$STAMP-*.txt" >&2
