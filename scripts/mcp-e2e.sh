#!/usr/bin/env bash
# End-to-end checks of sign-in and MCP with clients levd did not write: the official MCP Python
# SDK goes from a bare 401 through discovery, dynamic registration, PKCE, sign-in and token to
# tool calls (tests/e2e/mcp_sdk_flow.py), and headless Chromium drives the sign-in and consent
# pages with the keyboard (tests/e2e/signin_browser.py; screenshots in target/e2e/).
# Installs what it needs (Debian's chromium, a Python virtualenv under target/) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "mcp-e2e: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
fi
VENV=target/e2e-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import mcp, playwright' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/e2e/requirements.txt
fi

cargo build -q -p levd
TMP=$(mktemp -d /tmp/levd-e2e.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
BASE="http://127.0.0.1:$PORT"
target/debug/levd --database-url "sqlite://$TMP/lev.db" serve --demo --bind "127.0.0.1:$PORT" \
  --data-dir "$TMP/data" >"$TMP/out" 2>"$TMP/log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 1 150); do
  grep -q "Demo sign-in" "$TMP/out" 2>/dev/null && break
  sleep 0.2
done
line=$(grep "Demo sign-in" "$TMP/out") || { echo "mcp-e2e: levd did not start" >&2; cat "$TMP/log" >&2; exit 1; }
EMAIL=$(echo "$line" | sed -E 's/.*: ([^ ]+) \/ ([^ ]+)$/\1/')
PASSWORD=$(echo "$line" | sed -E 's/.*: ([^ ]+) \/ ([^ ]+)$/\2/')

echo "== MCP Python SDK: discovery, registration, PKCE, sign-in, tools"
"$VENV/bin/python" tests/e2e/mcp_sdk_flow.py "$BASE" "$EMAIL" "$PASSWORD" || { tail -50 "$TMP/log" >&2; exit 1; }
echo "== sign-in pages in headless Chromium (keyboard only)"
"$VENV/bin/python" tests/e2e/signin_browser.py "$BASE" "$EMAIL" "$PASSWORD" "$(command -v chromium)" || { tail -50 "$TMP/log" >&2; exit 1; }
