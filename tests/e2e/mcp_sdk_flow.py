"""End to end with the official MCP Python SDK: from a bare 401 to tool calls.

The SDK does everything an MCP client does: it reads the challenge on /mcp, discovers the
protected-resource and authorization-server metadata, registers itself dynamically, runs the
authorization-code flow with PKCE, exchanges the code, and calls tools with the token. The only
part played here is the user's: signing in and allowing on levd's own pages, done with plain
HTTP requests (the browser-driven version of those pages is signin_browser.py).

usage: python mcp_sdk_flow.py BASE_URL EMAIL PASSWORD
"""

import asyncio
import html
import json
import re
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT_URI = "http://127.0.0.1:53682/callback"


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    if not m:
        raise AssertionError(f"no field {name} on the page:\n{page[:2000]}")
    return html.unescape(m.group(1))


class User:
    """Plays the person at the browser: signs in and allows."""

    def __init__(self, email: str, password: str) -> None:
        self.email = email
        self.password = password
        self.result: AuthorizationCodeResult | None = None
        self.pages_seen: list[str] = []

    async def open_browser(self, authorization_url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as browser:
            r = await browser.get(authorization_url)
            assert r.status_code == 200, (r.status_code, r.text[:500])
            self.pages_seen.append("sign-in")
            form = {"interaction": hidden(r.text, "interaction"), "csrf": hidden(r.text, "csrf")}
            r = await browser.post(
                urljoin(authorization_url, "/authorize/sign-in"),
                data={**form, "email": self.email, "password": self.password},
            )
            assert r.status_code == 200, (r.status_code, r.text[:500])
            self.pages_seen.append("consent")
            account = re.search(r'<option value="([^"]+)"', r.text)
            assert account, r.text[:2000]
            r = await browser.post(
                urljoin(authorization_url, "/authorize/consent"),
                data={**form, "decision": "allow", "account": html.unescape(account.group(1))},
            )
            assert r.status_code == 303, (r.status_code, r.text[:500])
            location = r.headers["location"]
            assert location.startswith(REDIRECT_URI), location
            q = parse_qs(urlparse(location).query)
            self.result = AuthorizationCodeResult(code=q["code"][0], state=q.get("state", [None])[0], iss=q.get("iss", [None])[0])

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None, "the browser step did not run"
        return self.result


def text_of(result) -> str:
    assert not result.is_error, result
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def session(base: str, user: User, storage: MemoryStorage, mode: str) -> None:
    provider = OAuthClientProvider(
        server_url=f"{base}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="levd e2e (MCP Python SDK)",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=user.open_browser,
        callback_handler=user.callback,
    )
    async with httpx2.AsyncClient(auth=provider, timeout=60) as http:
        async with Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client:
            tools = await client.list_tools()
            names = {t.name for t in tools.tools}
            for expected in ("list_deals", "create_deal", "get_deal", "switch_account", "get_my_profile"):
                assert expected in names, f"{expected} missing from {sorted(names)}"
            print(f"[{mode}] {len(names)} tools listed")

            listed = json.loads(text_of(await client.call_tool("list_deals", {"limit": 5})))
            assert listed["showing"] >= 1 and isinstance(listed["data"], list), listed
            print(f"[{mode}] list_deals: showing {listed['showing']} of {listed['total']}")

            created = json.loads(text_of(await client.call_tool("create_deal", {"title": f"E2E deal via {mode}", "loan_amount": 1250000})))
            deal_id = created["id"]
            fetched = json.loads(text_of(await client.call_tool("get_deal", {"deal_id": deal_id})))
            assert fetched["title"] == f"E2E deal via {mode}", fetched
            print(f"[{mode}] create_deal -> {deal_id}, get_deal round trip ok")

            missing = await client.call_tool("get_deal", {"deal_id": 999999999})
            assert missing.is_error, missing
            print(f"[{mode}] unknown deal -> tool error: {text_of_error(missing)}")


def text_of_error(result) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def main() -> None:
    base, email, password = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]

    # A bare request is refused with a pointer to the resource metadata.
    async with httpx2.AsyncClient() as http:
        r = await http.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                            headers={"Accept": "application/json, text/event-stream"})
        assert r.status_code == 401, r.status_code
        challenge = r.headers["www-authenticate"]
        assert f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"' in challenge, challenge
        print(f"401 challenge: {challenge}")

    user = User(email, password)
    storage = MemoryStorage()
    await session(base, user, storage, "auto")
    assert user.pages_seen == ["sign-in", "consent"], user.pages_seen
    assert storage.client is not None and storage.client.client_id.startswith("levd_"), storage.client
    assert storage.tokens is not None and storage.tokens.refresh_token, storage.tokens
    print(f"dynamic registration: client {storage.client.client_id}; tokens stored")

    # A second session with the stored token and the previous protocol revision: no new sign-in.
    user.pages_seen.clear()
    await session(base, user, storage, "legacy")
    assert user.pages_seen == [], "a stored token must be reused"
    print("mcp-sdk-e2e: PASS")


if __name__ == "__main__":
    asyncio.run(main())
