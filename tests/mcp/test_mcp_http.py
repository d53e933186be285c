"""`agentfense mcp --http`: the official client over streamable HTTP (sessions, tools,
progress over SSE), the HTTP-level rules (session ids, methods, origin, content type)
and an orderly stop on SIGTERM that shows the changes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

import anyio
import pytest

from mcp_harness import (HIDDEN, TOOLS, Endpoint, HttpServer, alive, descendants, http_session,
                         sleeps_running, structured, text_of, wait_for_endpoint)


@pytest.fixture
def server(agentfense: str, repo: Path, tmp_path: Path) -> Any:
    running = HttpServer(agentfense, repo, tmp_path / "server.err")
    yield running
    if running.process.poll() is None:
        running.stop()


def post(endpoint: Endpoint, body: bytes, headers: Optional[dict[str, str]] = None,
         method: str = "POST", auth: bool = True) -> tuple[int, dict[str, str], bytes]:
    """One request on a connection of its own, with the endpoint's token unless not `auth`."""
    parsed = urlparse(endpoint.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    base = {"Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **(endpoint.auth if auth else {})}
    connection.request(method, parsed.path, body=body, headers={**base, **(headers or {})})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "raw", "version": "0"}}}).encode()


def open_session(endpoint: Endpoint) -> str:
    status, headers, body = post(endpoint, INITIALIZE)
    assert status == 200, body
    assert json.loads(body)["result"]["protocolVersion"] == "2025-06-18"
    return headers["mcp-session-id"]


def test_official_client_over_http(server: HttpServer, repo: Path, secret: str) -> None:
    async def main() -> None:
        async with http_session(server.url, server.token) as session:
            assert [tool.name for tool in (await session.list_tools()).tools] == TOOLS
            out = structured(await session.call_tool("run", {
                "command": "ls -a; grep -r SECRET .; echo hi > output/http.txt"}))
            assert secret not in out["stdout"] + out["stderr"]
            assert ".env" not in out["stdout"] and "output" in out["stdout"]
            for hidden in HIDDEN:
                result = await session.call_tool("read_file", {"path": hidden})
                assert result.is_error and text_of(result) == f"no such file or directory: /{hidden}"
            listing = structured(await session.call_tool("list_files", {"recursive": True}))
            assert not any(".env" in entry["path"] or "secrets" in entry["path"]
                           for entry in listing["entries"])
            structured(await session.call_tool("session_run", {"command": "cd output"}))
            out = structured(await session.call_tool("session_run", {"command": "cat http.txt"}))
            assert out["stdout"] == "hi\n"

            seen: list[float] = []

            async def on_progress(progress: float, total: Any, message: Any) -> None:
                seen.append(progress)

            out = structured(await session.call_tool("run", {"command": "sleep 2.3; echo ok"},
                                                     progress_callback=on_progress))
            assert out["stdout"] == "ok\n" and len(seen) >= 2 and seen == sorted(seen)

            timed_out = await session.call_tool("run", {"command": "sleep 30", "timeout": 1})
            assert timed_out.is_error and "timed out" in text_of(timed_out)
            changes = structured(await session.call_tool("changes", {}))["changes"]
            assert changes == [{"path": "/output/http.txt", "kind": "added", "type": "file"}]
    anyio.run(main)
    stderr = server.stop()
    assert "A /output/http.txt" in stderr and "+hi" in stderr
    assert not (repo / "output" / "http.txt").exists()


def test_http_sessions_are_required_and_end_with_delete(server: HttpServer) -> None:
    ping = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}).encode()
    status, _, body = post(server, ping)
    assert status == 400 and json.loads(body)["error"]["code"] == -32600
    status, _, _ = post(server, ping, {"Mcp-Session-Id": "0" * 32})
    assert status == 404

    session = open_session(server)
    other = open_session(server)
    assert session != other and len(session) == 32
    status, _, body = post(server, ping, {"Mcp-Session-Id": session})
    assert status == 200 and json.loads(body) == {"jsonrpc": "2.0", "id": 2, "result": {}}
    note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
    status, _, body = post(server, note, {"Mcp-Session-Id": session})
    assert status == 202 and body == b""

    # Without text/event-stream in Accept a tool call is answered as plain JSON.
    call = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                       "params": {"name": "run", "arguments": {"command": "echo json"}}}).encode()
    status, headers, body = post(server, call, {"Mcp-Session-Id": session,
                                                    "Accept": "application/json"})
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["result"]["structuredContent"]["stdout"] == "json\n"
    # With it, as an SSE stream ending with the result.
    status, headers, body = post(server, call, {"Mcp-Session-Id": session})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[len("data: "):]) for line in body.decode().splitlines()
              if line.startswith("data: ")]
    assert events[-1]["id"] == 3 and events[-1]["result"]["structuredContent"]["stdout"] == "json\n"

    status, _, _ = post(server, b"", {"Mcp-Session-Id": session}, method="DELETE")
    assert status == 200
    status, _, _ = post(server, ping, {"Mcp-Session-Id": session})
    assert status == 404
    status, _, _ = post(server, ping, {"Mcp-Session-Id": other})
    assert status == 200


def test_http_refusals(server: HttpServer) -> None:
    session = open_session(server)
    ping = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}).encode()
    status, headers, _ = post(server, b"", method="GET")
    assert status == 405 and "POST" in headers["allow"]

    status, _, body = post(server, b'{"jsonrpc": "2.0", "id": 1, "method": ',
                           {"Mcp-Session-Id": session})
    assert status == 400 and json.loads(body)["error"]["code"] == -32700
    status, _, body = post(server, b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]',
                           {"Mcp-Session-Id": session})
    assert status == 400 and json.loads(body)["error"]["code"] == -32600
    status, _, body = post(server, json.dumps(
        {"jsonrpc": "2.0", "id": 4, "method": "nope"}).encode(), {"Mcp-Session-Id": session})
    assert status == 200 and json.loads(body)["error"]["code"] == -32601

    # A web page elsewhere cannot drive it (DNS rebinding, cross-site POSTs).
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Host": "evil.example"}, {"Host": "evil.example:80"}):
        status, _, _ = post(server, ping, {"Mcp-Session-Id": session, **headers})
        assert status == 403, headers
    status, _, _ = post(server, ping, {"Mcp-Session-Id": session,
                                           "Origin": "http://localhost:3000"})
    assert status == 200
    status, _, _ = post(server, ping, {"Mcp-Session-Id": session,
                                           "Content-Type": "text/plain"})
    assert status == 415
    status, _, _ = post(server, ping, {"Mcp-Session-Id": session,
                                           "MCP-Protocol-Version": "1999-01-01"})
    assert status == 400
    assert server.stop().count("change(s)") == 0


PING = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}).encode()
MAX_SESSIONS = 64  # the limit docs/agents.md names


def call_tool(endpoint: Endpoint, session: str, name: str,
              arguments: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments}}).encode()
    status, _, reply = post(endpoint, body, {"Mcp-Session-Id": session,
                                             "Accept": "application/json"})
    assert status == 200, reply
    return json.loads(reply)["result"]


def ping_status(endpoint: Endpoint, session: str) -> int:
    return post(endpoint, PING, {"Mcp-Session-Id": session})[0]


def test_http_a_full_table_ends_the_least_recently_used_session_not_a_busy_one(
        server: HttpServer) -> None:
    """Sessions of clients gone without DELETE stayed forever: after 64 of them every
    initialize was refused with 503 until agentfense mcp restarted."""
    sessions = [open_session(server) for _ in range(MAX_SESSIONS)]
    busy = threading.Thread(target=call_tool, args=(server, sessions[0], "run",
                                                    {"command": "sleep 8"}))
    busy.start()
    try:
        time.sleep(0.5)
        for session in sessions[1:]:  # sessions[0] is now the least recently used, but busy
            assert ping_status(server, session) == 200
        newcomer = open_session(server)
        assert ping_status(server, sessions[1]) == 404  # used least recently, no call
        assert ping_status(server, newcomer) == 200
    finally:
        busy.join(timeout=30)
    assert ping_status(server, sessions[0]) == 200
    assert all(ping_status(server, session) == 200 for session in sessions[2:])


def shells_of(pid: int) -> int:
    """session_run's shells below pid (bwrap and the bash it runs, as bash without rc
    files: `run` ends its processes with each call)."""
    count = 0
    for child in alive(descendants(pid)):
        try:
            if b"\x00--noprofile\x00--norc\x00" in Path(f"/proc/{child}/cmdline").read_bytes():
                count += 1
        except FileNotFoundError:
            pass
    return count


def test_http_idle_sessions_end_with_their_shells(agentfense: str, repo: Path,
                                                  tmp_path: Path) -> None:
    running = HttpServer(agentfense, repo, tmp_path / "server.err", "--idle-timeout", "2")
    try:
        idle = open_session(running)
        out = call_tool(running, idle, "session_run", {"command": "cd output"})
        assert not out.get("isError"), out
        assert shells_of(running.process.pid) >= 1
        # A call running longer than the bound keeps its session.
        busy = open_session(running)
        out = call_tool(running, busy, "run", {"command": "sleep 4; echo done"})
        assert out["structuredContent"]["stdout"] == "done\n", out
        assert ping_status(running, busy) == 200
        assert ping_status(running, idle) == 404
        deadline = time.monotonic() + 10
        while shells_of(running.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert shells_of(running.process.pid) == 0
    finally:
        running.stop()


def test_idle_timeout_is_checked(agentfense: str, repo: Path) -> None:
    for extra, message in ((["--idle-timeout", "60"], "--idle-timeout goes with --http"),
                           (["--http", "127.0.0.1:0", "--idle-timeout", "0"],
                            "--idle-timeout must be from 1 to")):
        done = subprocess.run([agentfense, "mcp", *extra, str(repo)], capture_output=True,
                              text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert done.returncode != 0 and message in done.stderr, done.stderr


MAX_RUNNING = 16  # tool calls per session, as docs/agents.md promises


def quick(endpoint: Endpoint, body: bytes, headers: dict[str, str],
          method: str = "POST") -> tuple[int, bytes]:
    """A request that must be answered within 5 s even while long calls run."""
    parsed = urlparse(endpoint.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
    connection.request(method, parsed.path, body=body,
                       headers={"Content-Type": "application/json",
                                "Accept": "application/json", **endpoint.auth, **headers})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def test_http_long_calls_leave_room_for_cancel_delete_and_other_clients(
        server: HttpServer) -> None:
    """Each running call held one of httplib's 8 threads: with 8 long calls nothing more
    was read, not even the notifications/cancelled or DELETE that would stop them."""
    session = open_session(server)
    replies: list[tuple[int, bytes]] = []

    def long_call(n: int) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": f"s{n}", "method": "tools/call",
                           "params": {"name": "run",
                                      "arguments": {"command": "exec sleep 120"}}}).encode()
        try:
            status, _, reply = post(server, body, {"Mcp-Session-Id": session,
                                                       "Accept": "application/json"})
            replies.append((status, reply))
        except OSError as error:  # the session is deleted under it: no answer is owed
            replies.append((0, str(error).encode()))

    calls = [threading.Thread(target=long_call, args=(n,), daemon=True)
             for n in range(MAX_RUNNING)]
    for call in calls:
        call.start()
    # Under CI's load (every suite side by side) 16 sandboxes once took more than 30 s to
    # start their commands; a call that ended instead says why in `replies`.
    deadline = time.monotonic() + 60
    while (running := sleeps_running(server.process.pid)) < MAX_RUNNING:
        assert time.monotonic() < deadline, f"{running} calls started; ended: {replies}"
        time.sleep(0.05)

    # One call too many is refused at once, naming the limit.
    over = json.dumps({"jsonrpc": "2.0", "id": "over", "method": "tools/call",
                       "params": {"name": "run", "arguments": {"command": "true"}}}).encode()
    status, reply = quick(server, over, {"Mcp-Session-Id": session})
    result = json.loads(reply)["result"]
    assert status == 200 and result["isError"], reply
    assert f"{MAX_RUNNING} tool calls are already running" in result["content"][0]["text"]
    # Another client is served, and so are cancellation and DELETE.
    status, _ = quick(server, INITIALIZE, {})
    assert status == 200
    cancel = json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled",
                         "params": {"requestId": "s0"}}).encode()
    assert quick(server, cancel, {"Mcp-Session-Id": session})[0] == 202
    deadline = time.monotonic() + 10
    while sleeps_running(server.process.pid) >= MAX_RUNNING:
        assert time.monotonic() < deadline, "the cancelled call still runs"
        time.sleep(0.05)
    assert quick(server, b"", {"Mcp-Session-Id": session}, method="DELETE")[0] == 200
    deadline = time.monotonic() + 10
    while sleeps_running(server.process.pid):
        assert time.monotonic() < deadline, "the deleted session's calls still run"
        time.sleep(0.05)
    for call in calls:
        call.join(timeout=10)
    assert len(replies) == MAX_RUNNING


def rss_mib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def raw_request(endpoint: Endpoint, head: bytes, timeout: float = 5) -> bytes:
    """Sends `head` alone (no body follows, whatever it declares) and returns the answer
    the endpoint sends before it closes the connection."""
    parsed = urlparse(endpoint.url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout) as sock:
        sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_http_requests_without_the_token_are_refused_and_run_nothing(
        server: HttpServer) -> None:
    """Any local process, whatever its uid, could use every tool: loopback is no access
    check (attack sweep M1)."""
    session = open_session(server)
    touch = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                        "params": {"name": "run", "arguments": {
                            "command": "echo planted > output/planted.txt"}}}).encode()
    for headers in ({}, {"Authorization": "Bearer " + "0" * 64},
                    {"Authorization": "Bearer " + server.token[:-1]},
                    {"Authorization": "Basic " + server.token},
                    {"Authorization": server.token}):
        for body in (INITIALIZE, touch):
            status, reply_headers, reply = post(server, body, {"Mcp-Session-Id": session,
                                                               **headers}, auth=False)
            assert status == 401, (headers, reply)
            assert reply_headers["www-authenticate"] == "Bearer"
            assert "mcp-session-id" not in reply_headers
            error = json.loads(reply)["error"]
            assert error["code"] == -32600 and ("Authorization: Bearer" in error["message"]
                                                or "not this endpoint's" in error["message"])
    status, _, _ = post(server, b"", {"Mcp-Session-Id": session}, method="DELETE", auth=False)
    assert status == 401
    # Nothing ran, the session is still there, and the token works.
    assert call_tool(server, session, "changes", {})["structuredContent"]["changes"] == []
    assert server.stop().count("change(s)") == 0


def test_http_a_body_without_the_token_is_never_read(server: HttpServer) -> None:
    """The refusal comes before the body: a client declaring a large body it never sends
    is answered at once, and sending one does not grow the endpoint (attack sweep M2)."""
    before = rss_mib(server.process.pid)
    started = time.monotonic()
    answer = raw_request(server, b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Content-Length: 20000000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401 ") and time.monotonic() - started < 2, answer
    parsed = urlparse(server.url)
    sockets = []
    for _ in range(8):
        sock = socket.create_connection((parsed.hostname, parsed.port), timeout=5)
        sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 20000000\r\n\r\n")
        sockets.append(sock)
    sent = 0
    for sock in sockets:
        try:
            for _ in range(20):
                sock.sendall(b"x" * (1 << 20))
                sent += 1 << 20
        except OSError:
            pass  # the endpoint ended the connection instead of reading on
        sock.close()
    assert rss_mib(server.process.pid) - before < 16, (sent, before)


def test_http_request_heads_and_bodies_are_bounded(server: HttpServer) -> None:
    """httplib read a request line or a header until its newline, however long (300 MiB
    sent, 300 MiB more held); a body had no total bound (24 bodies took 2.3 GB)."""
    before = rss_mib(server.process.pid)
    for head in (b"POST /mcp", b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: "):
        parsed = urlparse(server.url)
        with socket.create_connection((parsed.hostname, parsed.port), timeout=5) as sock:
            sock.sendall(head)
            with pytest.raises(OSError):
                for _ in range(200):
                    sock.sendall(b"a" * (1 << 20))
    assert rss_mib(server.process.pid) - before < 16

    token = b"Authorization: Bearer " + server.token.encode() + b"\r\n"
    head = (b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + token)
    too_large = raw_request(server, head + b"Content-Length: 30000000\r\n\r\n")
    assert too_large.startswith(b"HTTP/1.1 413 "), too_large
    chunked = raw_request(server, head + b"Transfer-Encoding: chunked\r\n\r\n")
    assert chunked.startswith(b"HTTP/1.1 411 "), chunked

    # Bodies being received are charged before they are read: 128 MiB in all.
    parsed = urlparse(server.url)
    largest = 16 * 2**20 // 3 * 4 + 2**20
    held = []
    try:
        while True:
            sock = socket.create_connection((parsed.hostname, parsed.port), timeout=5)
            sock.sendall(head + f"Content-Length: {largest}\r\n\r\n".encode() + b"{")
            held.append(sock)
            sock.settimeout(0.5)
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue  # being read
            assert answer.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in answer, answer
            break
        assert len(held) == 6, len(held)  # five fit
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # given back as the connections end
        status, _, body = post(server, INITIALIZE)
        if status == 200:
            break
        assert status == 503 and time.monotonic() < deadline, body
        time.sleep(0.1)


def test_http_token_file_is_created_0600_and_removed_at_exit(
        agentfense: str, repo: Path, tmp_path: Path) -> None:
    path = tmp_path / "token"
    stderr_path = tmp_path / "err"
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            [agentfense, "mcp", "--http", "127.0.0.1:0", "--http-token-file", str(path),
             str(repo)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        match = wait_for_endpoint(process, stderr_path)
        token = path.read_text()
        assert len(token) == 64 and token not in stderr_path.read_text()
        assert f"'Authorization: Bearer TOKEN' with the TOKEN in {path}" in stderr_path.read_text()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == os.getuid()
        open_session(Endpoint(match.group(1), token))

        # A second server refuses the file that exists, leaving nothing behind.
        again = subprocess.run([agentfense, "mcp", "--http", "127.0.0.1:0", "--http-token-file",
                                str(path), str(repo)], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=30)
        assert again.returncode == 2 and "already exists" in again.stderr, again.stderr
        assert path.read_text() == token
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert not path.exists()
    no_http = subprocess.run([agentfense, "mcp", "--http-token-file", str(path), str(repo)],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert no_http.returncode == 2 and "--http-token-file goes with --http" in no_http.stderr
    assert not path.exists()


def test_http_token_from_the_environment(agentfense: str, repo: Path, tmp_path: Path) -> None:
    chosen = "launcher-chosen-" + "7" * 32
    running = HttpServer(agentfense, repo, tmp_path / "server.err", token=chosen)
    try:
        assert "Bearer $AGENTFENSE_MCP_TOKEN" in running.endpoint_line
        assert chosen not in running.stderr_path.read_text()
        session = open_session(running)
        assert ping_status(running, session) == 200

        async def main() -> None:
            async with http_session(running.url, chosen) as client:
                out = structured(await client.call_tool("run", {"command": "echo env-token"}))
                assert out["stdout"] == "env-token\n"
        anyio.run(main)
    finally:
        running.stop()
    for weak in ("short", "x" * 31, "has space " + "x" * 40):
        done = subprocess.run([agentfense, "mcp", "--http", "127.0.0.1:0", str(repo)],
                              env={**os.environ, "AGENTFENSE_MCP_TOKEN": weak},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 2 and "AGENTFENSE_MCP_TOKEN must be" in done.stderr, weak
