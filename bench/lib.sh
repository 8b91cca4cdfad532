# Shared by the bench scripts (sourced, not run).

# Installs a missing command from Debian: need COMMAND PACKAGE.
need() {
    command -v "$1" >/dev/null && return 0
    echo "$1 not found; installing $2 with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null
}

# Milliseconds from wrk's latency notation (e.g. 812.00us, 3.41ms, 1.02s).
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
        else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
        else print "nan" }'
}

# One wrk run, its raw output appended to RAW: wrk_run RAW SCRIPT URL -> "rps p50_ms p99_ms".
# Uses THREADS, CONNECTIONS and DURATION; warns on stderr when answers were not 2xx.
wrk_run() {
    local raw="$1" rps p50 p99 bad
    timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency -s "$2" "$3" >>"$raw"
    rps=$(awk '/^Requests\/sec:/ {v = $2} END {print v}' "$raw")
    p50=$(awk '$1 == "50%" {v = $2} END {print v}' "$raw")
    p99=$(awk '$1 == "99%" {v = $2} END {print v}' "$raw")
    bad=$(awk '/Non-2xx or 3xx responses:/ {v = $NF} END {print v + 0}' "$raw")
    if [ "$bad" != "0" ]; then echo "$(basename "$raw"): $bad answers were not 2xx" >&2; fi
    echo "$rps $(to_ms "$p50") $(to_ms "$p99")"
}

# The line with the best requests/s among "rps p50 p99" lines on stdin.
best() {
    sort -k1,1 -g -r | head -1
}
