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
