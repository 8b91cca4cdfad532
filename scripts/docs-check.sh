#!/usr/bin/env bash
# Loads levd's /docs page in headless Chromium (Debian's, installed if missing), checks that it
# rendered every operation of the OpenAPI document, and keeps a screenshot in target/.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "docs-check: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
fi
cargo build -q -p levd
TMP=$(mktemp -d /tmp/levd-docs.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
target/debug/levd --database-url "sqlite://$TMP/lev.db" serve --bind "127.0.0.1:$PORT" --data-dir "$TMP/data" \
  >"$TMP/out" 2>"$TMP/log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/api/external/v2/health" >/dev/null 2>&1 && break
  sleep 0.2
done

# The flags keep Chromium off the network (this machine has none) and out of the user profile.
CHROME=(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$TMP/profile" --virtual-time-budget=10000)
"${CHROME[@]}" --dump-dom "http://127.0.0.1:$PORT/docs" >"$TMP/dom.html" 2>/dev/null
mkdir -p target
"${CHROME[@]}" --window-size=1280,1600 --screenshot="$PWD/target/docs-screenshot.png" "http://127.0.0.1:$PORT/docs" >/dev/null 2>&1

expected=$(curl -fs "http://127.0.0.1:$PORT/api/external/v2/openapi.json" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
print(sum(len(item) for item in doc["paths"].values()))')
rendered=$(grep -o 'class="op" data-text="[a-z]' "$TMP/dom.html" | wc -l)
echo "docs-check: $rendered of $expected operations rendered; screenshot in target/docs-screenshot.png"
for op in getDeals postDeals getMe postContactsContactIdActionsUnlock getLendersDirectory; do
  grep -q "$op" "$TMP/dom.html" || { echo "docs-check: $op not on the page" >&2; exit 1; }
done
[ "$rendered" -eq "$expected" ] && [ "$expected" -ge 81 ]
