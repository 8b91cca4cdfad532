"""levd's sign-in and consent pages, driven in headless Chromium with the keyboard only.

A client is registered, an authorization request with PKCE opens the sign-in page, the user
types the e-mail address and password and presses Enter, then allows on the consent page (Tab
to the button, Enter). The browser lands on the client's redirect URI (a local listener here),
the code is exchanged, and the token is used on the REST API. Screenshots of both pages are
kept in target/e2e/.

usage: python signin_browser.py BASE_URL EMAIL PASSWORD [CHROMIUM]
"""

import base64
import hashlib
import json
import os
import secrets
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from playwright.sync_api import sync_playwright

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "target", "e2e")


class Callback(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(b"<!doctype html><title>Done</title><p>Signed in. You can close this window.</p>")

    def log_message(self, *args):
        pass


def post(url: str, data: dict, form: bool = True) -> tuple[int, dict]:
    body = urllib.parse.urlencode(data).encode() if form else json.dumps(data).encode()
    ctype = "application/x-www-form-urlencoded" if form else "application/json"
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def main() -> None:
    base, email, password = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    chromium = sys.argv[4] if len(sys.argv) > 4 else "/usr/bin/chromium"
    os.makedirs(OUT, exist_ok=True)

    server = HTTPServer(("127.0.0.1", 0), Callback)
    redirect_uri = f"http://127.0.0.1:{server.server_port}/callback"
    threading.Thread(target=server.serve_forever, daemon=True).start()

    status, client = post(f"{base}/oidc/register", {
        "client_name": "Browser Check",
        "redirect_uris": [redirect_uri],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
    }, form=False)
    assert status == 201, (status, client)

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(12)
    url = f"{base}/authorize?" + urllib.parse.urlencode({
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "openid email offline_access",
        # The whole server: the token is used on the REST API below, which refuses tokens
        # minted for /mcp alone.
        "resource": f"{base}/",
    })

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 800, "height": 700})
        page.goto(url)
        assert "Browser Check" in page.content(), "the client name is shown"
        # The e-mail field has the focus; everything below is typed.
        page.keyboard.type(email)
        page.keyboard.press("Tab")
        page.keyboard.type(password)
        page.screenshot(path=os.path.join(OUT, "signin.png"))
        page.keyboard.press("Enter")
        page.wait_for_selector("select#account")
        assert "Allow access" in page.title(), page.title()
        page.screenshot(path=os.path.join(OUT, "consent.png"))
        # Focus is on the account list; Tab reaches "Allow".
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent")
        assert focused == "Allow", focused
        page.keyboard.press("Enter")
        page.wait_for_url(redirect_uri + "*")
        landed = page.url
        browser.close()
    server.shutdown()

    got = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(landed).query))
    assert got.get("state") == state, got
    assert got.get("iss") == f"{base}/", got
    status, tokens = post(f"{base}/oauth/token", {
        "grant_type": "authorization_code",
        "code": got["code"],
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
        "client_id": client["client_id"],
    })
    assert status == 200, (status, tokens)
    req = urllib.request.Request(f"{base}/api/external/v2/me", headers={
        "Authorization": f"Bearer {tokens['access_token']}", "X-Origin-App": "e2e"})
    with urllib.request.urlopen(req) as r:
        me = json.loads(r.read())
    print(f"signed in as {me['data'].get('email', me['data'])}; screenshots in target/e2e/")
    print("signin-browser: PASS")


if __name__ == "__main__":
    main()
