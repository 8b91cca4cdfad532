#!/usr/bin/env bash
# Fault and concurrency checks of levd on two nodes sharing one PostgreSQL database, on loopback
# only, against a throw-away PostgreSQL server (scripts/with-postgres.sh installs one from
# Debian if missing). Prints PASS/FAIL per check; exits non-zero if any check fails.
#
#   bench/cluster.sh                  # checks a-e (about 3 minutes; see crates/levd/examples/cluster.rs)
#   bench/cluster.sh --duration 30    # longer mixed-load phase
#   bench/cluster.sh --compare        # load figures: SQLite vs PostgreSQL, one vs two nodes
#
# Output is also kept in bench/out/cluster-<timestamp>.txt (gitignored).
set -euo pipefail

cd "$(dirname "$0")/.."
mkdir -p bench/out

cargo build --release -p levd --bins --examples

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="bench/out/cluster-$STAMP.txt"
# A failed check must still reach the tee'd file and the exit status below.
set +e
# The variable is exported by with-postgres.sh inside the command it runs, hence bash -c.
# shellcheck disable=SC2016
scripts/with-postgres.sh bash -c 'exec target/release/examples/cluster --levd target/release/levd \
    --database-url "$LEV_TEST_DATABASE_URL" "$@"' cluster "$@" 2>&1 | tee "$OUT"
status="${PIPESTATUS[0]}"
set -e
echo "output kept in $OUT" >&2
exit "$status"
