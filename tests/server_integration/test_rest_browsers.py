"""Web pages cannot drive the REST API. The default server (loopback, no keys: every
caller is admin) served a page that rebound its own DNS name to 127.0.0.1: it listed
every codebase and read the raw `.env` no sandbox ever sees; plain cross-site POSTs
created resources (attack sweep). A request naming another Host, or coming from a web
page (Origin, Sec-Fetch-Site), is refused unless the config lists it."""

from __future__ import annotations

import pytest
import requests

from conftest import make_codebase
from server_harness import serving


def get(server, path, **headers):
    return requests.get(f"{server.http}/v1{path}", headers=headers, timeout=30)


def test_a_rebound_name_or_a_web_page_is_refused(server):
    codebase = make_codebase(server, files={".env": b"AWS_SECRET=devsecret123\n"})
    content = f"/codebases/{codebase}/content/.env"
    assert get(server, content).content == b"AWS_SECRET=devsecret123\n"  # plain clients
    for headers in ({"Host": "rebound.evil.example:8080"},
                    {"Origin": "http://evil.example"},
                    {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"}):
        r = get(server, content, **headers)
        assert r.status_code == 403, (headers, r.status_code, r.text)
        assert r.json()["reason"] == "PERMISSION_DENIED"
        assert "devsecret" not in r.text
    r = requests.post(f"{server.http}/v1/codebases", data='{"name": "csrf"}',
                      headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
                      timeout=30)
    assert r.status_code == 403 and "server.allowed_origins" in r.json()["message"], r.text
    names = {c["name"] for c in get(server, "/codebases").json().get("codebases", [])}
    assert "csrf" not in names
    assert get(server, content, Host="localhost").status_code == 200


@pytest.fixture(scope="module")
def listed_server():
    yield from serving("af-browsers-", config=(
        "server:\n  allowed_hosts: [agentfense.internal]\n"
        "  allowed_origins: [\"https://console.example.com\"]\n"))


def test_listed_names_and_origins_are_served(listed_server):
    assert get(listed_server, "/codebases", Host="agentfense.internal:8080").status_code == 200
    assert get(listed_server, "/codebases", Host="other.internal").status_code == 403
    r = get(listed_server, "/codebases", Origin="https://console.example.com")
    assert r.status_code == 200, r.text
    # Its pages may read the answers, and their browser's preflight is answered.
    assert r.headers["Access-Control-Allow-Origin"] == "https://console.example.com"
    r = requests.options(f"{listed_server.http}/v1/codebases", timeout=30, headers={
        "Origin": "https://console.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == 204, r.text
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "authorization" in r.headers["Access-Control-Allow-Headers"]
    assert get(listed_server, "/codebases", Origin="https://evil.example").status_code == 403


@pytest.fixture(scope="module")
def keyed_server():
    from tenants import start_tenant_server
    started = start_tenant_server({"alice": {"owners": ["team-a"]}})
    yield started
    started.stop()


def test_a_server_with_keys_and_tls_answers_any_name_but_no_web_page(keyed_server):
    """Remote clients name such a server (`agentfense mcp --server
    https://sandboxes.example:8080`); a page cannot authenticate to it, and over TLS it
    cannot rebind either. Cross-site requests are still refused (client certificates
    are sent by the browser itself)."""
    alice = keyed_server.server.client(keyed_server.keys["alice"])
    try:
        r = alice.http.get(f"{alice.url}/v1/codebases", headers={"Host": "sandboxes.example"},
                           timeout=30)
        assert r.status_code == 200, r.text
        r = alice.http.get(f"{alice.url}/v1/codebases",
                           headers={"Origin": "https://evil.example"}, timeout=30)
        assert r.status_code == 403, r.text
    finally:
        alice.close()
