"""`agentfense mcp --server URL --sandbox ID`: the tools over a sandbox of a real running
server (TLS and API keys on, as a shared server runs), with the official MCP client: the
server's rules through every tool, writes in the server's change list, a timeout as a
tool error, and clear start-up errors for a wrong key or sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from mcp_harness import (RawStdio, alive, descendants, http_session, structured, text_of,
                         token_of, wait_for_endpoint)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server_integration"))
from tenants import TenantServer, start_tenant_server  # noqa: E402

HIDDEN = ".env"
VIEW_ONLY = "docs/private.md"
SECRET = "SECRETmcpserver0123456789"
FILES = {
    "README.md": "# Sample\n",
    "src/app.py": "print('hello from app')\n",
    "output/report.txt": "old report\n",
    HIDDEN: f"TOKEN={SECRET}\n",
    VIEW_ONLY: f"{SECRET} viewed\n",
}
PERMISSIONS = [
    {"pattern": "**", "permission": "read"},
    {"pattern": "/output/**", "permission": "write", "priority": 10},
    {"pattern": "**/.env*", "permission": "none", "priority": 100},
    {"pattern": f"/{VIEW_ONLY}", "permission": "view", "priority": 50, "type": "file"},
]


@pytest.fixture(scope="module")
def tenants() -> Any:
    t = start_tenant_server({"admin": {"role": "admin"}, "other": {"owners": ["team-b"]}})
    yield t
    t.stop()


@pytest.fixture
def sandbox(tenants: TenantServer) -> str:
    http = tenants.client("admin").http
    url = tenants.server.http
    codebase = http.post(f"{url}/v1/codebases", json={"name": "mcp"})
    assert codebase.ok, codebase.text
    cb_id = codebase.json()["id"]
    for path, text in FILES.items():
        put = http.put(f"{url}/v1/codebases/{cb_id}/content/{path}", data=text.encode())
        assert put.ok, put.text
    created = http.post(f"{url}/v1/sandboxes",
                        json={"codebaseId": cb_id, "permissions": PERMISSIONS,
                              "syncMode": "manual"})
    assert created.ok, created.text
    sb_id = created.json()["id"]
    started = http.post(f"{url}/v1/sandboxes/{sb_id}/start")
    assert started.ok, started.text
    yield sb_id
    http.delete(f"{url}/v1/sandboxes/{sb_id}")
    http.delete(f"{url}/v1/codebases/{cb_id}")


def server_args(tenants: TenantServer, sandbox_id: str, key: str | None = None) -> list[str]:
    return ["mcp", "--server", tenants.server.http, "--ca-cert", str(tenants.pki.ca_cert),
            "--api-key", key if key is not None else tenants.keys["admin"],
            "--sandbox", sandbox_id]


@asynccontextmanager
async def session_on(agentfense: str, args: list[str],
                     errlog_path: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=agentfense, args=args)
    with open(errlog_path, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def test_tools_act_on_the_server_sandbox_through_its_rules(
        agentfense: str, tenants: TenantServer, sandbox: str, tmp_path: Path) -> None:
    async def main() -> None:
        async with session_on(agentfense, server_args(tenants, sandbox),
                              tmp_path / "err") as session:
            # The hidden file does not exist through any tool.
            listed = structured(await session.call_tool("list_files", {"recursive": True}))
            paths = {entry["path"]: entry for entry in listed["entries"]}
            assert "/src/app.py" in paths and f"/{HIDDEN}" not in paths
            assert paths[f"/{VIEW_ONLY}"]["level"] == "view"
            read = await session.call_tool("read_file", {"path": HIDDEN})
            assert read.is_error and "no such file or directory" in text_of(read)
            out = structured(await session.call_tool("run", {"command": f"ls -a; cat {HIDDEN}"}))
            assert "README.md" in out["stdout"] and HIDDEN not in out["stdout"]
            assert "No such file or directory" in out["stderr"] and out["exit_code"] != 0
            # The view-only file is listed but cannot be read.
            viewed = await session.call_tool("read_file", {"path": VIEW_ONLY})
            assert viewed.is_error and "permission denied" in text_of(viewed)
            # Readable files come back byte for byte, binary too.
            app = structured(await session.call_tool("read_file", {"path": "src/app.py"}))
            assert app["content"] == FILES["src/app.py"] and app["encoding"] == "utf-8"
            written = structured(await session.call_tool("write_file", {
                "path": "output/blob.bin", "content": "AAEC/w==", "encoding": "base64"}))
            assert written["bytes_written"] == 4
            blob = structured(await session.call_tool("read_file", {"path": "output/blob.bin"}))
            assert blob["encoding"] == "base64" and blob["content"] == "AAEC/w=="
            refused = await session.call_tool("write_file", {"path": "src/app.py", "content": "x"})
            assert refused.is_error and "permission denied" in text_of(refused)
            # A write is a change, on the server as well.
            await session.call_tool("write_file", {"path": "output/notes.md", "content": "hi\n"})
            changes = structured(await session.call_tool("changes", {}))
            kinds = {c["path"]: c["kind"] for c in changes["changes"]}
            assert kinds["/output/notes.md"] == "added", kinds
            diff = structured(await session.call_tool("diff", {"paths": ["output/notes.md"]}))
            assert "+hi" in diff["diff"] and "output/notes.md" in diff["diff"]
            # Output that is not UTF-8 comes from its exact bytes (stdoutBytes), each
            # invalid byte shown as U+FFFD, as a local sandbox's `run` shows it.
            odd = structured(await session.call_tool(
                "run", {"command": "printf 'caf\\377 ok'; printf 'e\\376' >&2"}))
            assert odd["stdout"] == "caf\ufffd ok" and odd["stderr"] == "e\ufffd", odd
            assert odd["truncated"] is False
            # A persistent shell keeps its directory.
            await session.call_tool("session_run", {"command": "cd src"})
            pwd = structured(await session.call_tool("session_run", {"command": "pwd"}))
            assert pwd["stdout"] == "/workspace/src\n" and pwd["new_session"] is False
            # A timeout is a tool error, with the output so far.
            slow = await session.call_tool("run", {"command": "echo started; sleep 30",
                                                   "timeout": 1})
            assert slow.is_error and "timed out" in text_of(slow)
            assert slow.structured_content["timed_out"] is True
            assert "started" in slow.structured_content["stdout"]
        http = tenants.client("admin").http
        listed = http.get(f"{tenants.server.http}/v1/sandboxes/{sandbox}/changes").json()
        assert "/output/notes.md" in [c["path"] for c in listed["changes"]]
        assert SECRET not in (tmp_path / "err").read_text()
        assert "/output/notes.md" in (tmp_path / "err").read_text()  # shown at exit
    anyio.run(main)


def test_changes_apply_at_exit_commits_on_the_server(
        agentfense: str, tenants: TenantServer, sandbox: str, tmp_path: Path) -> None:
    async def main() -> None:
        async with session_on(agentfense, [*server_args(tenants, sandbox), "--changes", "apply"],
                              tmp_path / "err") as session:
            await session.call_tool("run", {"command": "echo new > output/report.txt"})
    anyio.run(main)
    http = tenants.client("admin").http
    url = tenants.server.http
    assert http.get(f"{url}/v1/sandboxes/{sandbox}/changes").json().get("changes", []) == []
    cb_id = http.get(f"{url}/v1/sandboxes/{sandbox}").json()["codebaseId"]
    assert http.get(f"{url}/v1/codebases/{cb_id}/content/output/report.txt").text == "new\n"


def start_error(agentfense: str, args: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run([agentfense, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})
    assert done.returncode != 0, done
    return done.stderr


def test_wrong_key_unknown_sandbox_and_stopped_sandbox_are_startup_errors(
        agentfense: str, tenants: TenantServer, sandbox: str) -> None:
    bad_key = start_error(agentfense, server_args(tenants, sandbox, key="afk_" + "0" * 43))
    assert "refused the API key" in bad_key, bad_key
    # The key from the environment, as an MCP client configuration passes it.
    args = server_args(tenants, "sb_nope")
    del args[args.index("--api-key"):args.index("--api-key") + 2]
    unknown = start_error(agentfense, args, env={"AGENTFENSE_API_KEY": tenants.keys["admin"]})
    assert "no sandbox 'sb_nope'" in unknown, unknown
    # Another tenant's key does not reach this sandbox.
    foreign = start_error(agentfense, server_args(tenants, sandbox, key=tenants.keys["other"]))
    assert f"no sandbox '{sandbox}'" in foreign, foreign
    http = tenants.client("admin").http
    assert http.post(f"{tenants.server.http}/v1/sandboxes/{sandbox}/stop").ok
    stopped = start_error(agentfense, server_args(tenants, sandbox))
    assert "is not running" in stopped, stopped
    unreachable = start_error(agentfense, ["mcp", "--server", "http://127.0.0.1:1",
                                           "--sandbox", sandbox])
    assert "cannot reach the agentfense server at http://127.0.0.1:1" in unreachable, unreachable
    args = server_args(tenants, sandbox)
    del args[args.index("--ca-cert"):args.index("--ca-cert") + 2]
    untrusted = start_error(agentfense, args)
    assert "TLS certificate is not trusted (give its CA with --ca-cert)" in untrusted, untrusted
    limits = start_error(agentfense, [*server_args(tenants, sandbox), "--memory", "1G"])
    assert "the sandbox's rules, limits, audit trail and network are the server's" in limits
    both = start_error(agentfense, [*server_args(tenants, sandbox), "/tmp"])
    assert "DIR is not taken with --server" in both, both


def test_http_with_commit_tools_sessions_end_and_commit_on_the_server(
        agentfense: str, tenants: TenantServer, sandbox: str, tmp_path: Path) -> None:
    stderr_path = tmp_path / "err"
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            [agentfense, *server_args(tenants, sandbox), "--http", "127.0.0.1:0",
             "--allow-commit", "--changes", "discard"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        match = wait_for_endpoint(process, stderr_path)

        async def main() -> None:
            async with http_session(match.group(1), token_of(match)) as session:
                ended = structured(await session.call_tool("session_run", {"command": "exit 3"}))
                assert ended["exit_code"] == 3 and ended["session_open"] is False
                again = structured(await session.call_tool("session_run", {"command": "echo $$"}))
                assert again["new_session"] is True and again["exit_code"] == 0
                await session.call_tool("write_file", {"path": "output/a.txt", "content": "a\n"})
                await session.call_tool("write_file", {"path": "output/b.txt", "content": "b\n"})
                done = structured(await session.call_tool("commit", {"paths": ["output/a.txt"]}))
                assert done["applied"] == ["/output/a.txt"], done
                dropped = structured(await session.call_tool("discard", {}))
                assert dropped["discarded"] == 1
        anyio.run(main)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, stderr_path.read_text()
    http = tenants.client("admin").http
    url = tenants.server.http
    sessions = http.get(f"{url}/v1/sandboxes/{sandbox}/sessions").json().get("sessions", [])
    assert sessions and all(s["status"] == "SESSION_STATUS_CLOSED" for s in sessions), sessions
    cb_id = http.get(f"{url}/v1/sandboxes/{sandbox}").json()["codebaseId"]
    assert http.get(f"{url}/v1/codebases/{cb_id}/content/output/a.txt").text == "a\n"
    assert http.get(f"{url}/v1/codebases/{cb_id}/content/output/b.txt").status_code == 404


def sleeping(pid: int, marker: bytes) -> bool:
    return any(Path(f"/proc/{child}/cmdline").read_bytes().startswith(marker)
               for child in alive(descendants(pid)) if Path(f"/proc/{child}/cmdline").exists())


def test_cancelled_call_kills_the_command_on_the_server(
        agentfense: str, tenants: TenantServer, sandbox: str) -> None:
    raw = RawStdio(agentfense, None, args=server_args(tenants, sandbox))
    server_pid = tenants.server.proc.pid
    marker = b"sleep\x00307"
    try:
        raw.initialize()
        raw.send(json.dumps({"jsonrpc": "2.0", "id": "long", "method": "tools/call",
                             "params": {"name": "run", "arguments": {
                                 "command": "echo x > output/cancelled.txt; exec sleep 307"}}}
                            ).encode())
        deadline = time.monotonic() + 30
        while not sleeping(server_pid, marker):
            assert time.monotonic() < deadline, "the command did not start"
            time.sleep(0.05)
        raw.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled",
                             "params": {"requestId": "long", "reason": "user"}}).encode())
        assert raw.request({"jsonrpc": "2.0", "id": "after", "method": "ping"})["id"] == "after"
        deadline = time.monotonic() + 15
        while sleeping(server_pid, marker):
            assert time.monotonic() < deadline, "the cancelled command still runs on the server"
            time.sleep(0.05)
    finally:
        code, stderr = raw.close()
    assert code == 0, stderr
    assert "/output/cancelled.txt" in stderr  # what it wrote before is still reviewed


def test_a_sandbox_stopped_meanwhile_is_a_tool_error(
        agentfense: str, tenants: TenantServer, sandbox: str, tmp_path: Path) -> None:
    async def main() -> None:
        async with session_on(agentfense, server_args(tenants, sandbox),
                              tmp_path / "err") as session:
            assert structured(await session.call_tool("run", {"command": "true"}))["exit_code"] == 0
            http = tenants.client("admin").http
            assert http.post(f"{tenants.server.http}/v1/sandboxes/{sandbox}/stop").ok
            for name, args in [("run", {"command": "true"}), ("read_file", {"path": "README.md"}),
                               ("session_run", {"command": "true"})]:
                result = await session.call_tool(name, args)
                assert result.is_error, (name, result)
                assert "not running on the server" in text_of(result), (name, text_of(result))
    anyio.run(main)


def test_the_review_at_exit_shows_names_and_content_inert(
        agentfense: str, tenants: TenantServer, sandbox: str, tmp_path: Path) -> None:
    """What `--changes show` prints at exit came out of the sandbox: a name with a newline
    printed a forged line, and file content with escape sequences reached the terminal."""
    async def main() -> None:
        async with session_on(agentfense, [*server_args(tenants, sandbox), "--changes", "show"],
                              tmp_path / "err") as session:
            await session.call_tool("run", {"command": (
                "printf '\\033[2Jcleared\\n' > \"output/$(printf 'n\\n  added FORGED')\"")})
    anyio.run(main)
    shown = (tmp_path / "err").read_text()
    assert "\x1b" not in shown, shown
    assert not any(line.startswith("  added FORGED") for line in shown.splitlines()), shown
    assert '"/output/n\\n  added FORGED"' in shown, shown
    assert "\\x1b[2Jcleared" in shown, shown


def test_a_name_that_is_not_utf8_is_diffed_and_committed_by_its_quoted_form(
        agentfense: str, tenants: TenantServer, sandbox: str, tmp_path: Path) -> None:
    """The tools decode a quoted path to its bytes; over --server it must go back on the
    wire quoted (the REST API carries UTF-8 only), or diff and commit would fail."""
    async def main() -> None:
        async with session_on(agentfense, [*server_args(tenants, sandbox), "--allow-commit",
                                           "--changes", "discard"], tmp_path / "err") as session:
            structured(await session.call_tool("run", {
                "command": "printf payload > output/caf$(printf '\\377'); echo b > output/b"}))
            listed = sorted(c["path"] for c in
                            structured(await session.call_tool("changes", {}))["changes"])
            assert listed == ['"/output/caf\\377"', "/output/b"]
            diff = structured(await session.call_tool("diff", {"paths": [listed[0]]}))["diff"]
            assert "payload" in diff and "output/b" not in diff
            done = structured(await session.call_tool("commit", {"paths": [listed[0]]}))
            assert done["applied"] == [listed[0]], done
            assert [c["path"] for c in
                    structured(await session.call_tool("changes", {}))["changes"]] == ["/output/b"]
    anyio.run(main)


def test_a_key_on_the_command_line_is_blanked_from_the_process_list(
        agentfense: str, tenants: TenantServer, sandbox: str) -> None:
    """`--api-key KEY` stayed readable in /proc/<pid>/cmdline (ps) by every local user for
    the whole session; it is overwritten once read, with a warning naming the variable."""
    key = tenants.keys["admin"]
    proc = subprocess.Popen([agentfense, *server_args(tenants, sandbox, key=key)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        warning = proc.stderr.readline().decode()
        assert "--api-key shows in the process list" in warning, warning
        assert "AGENTFENSE_API_KEY" in warning
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert key.encode() not in cmdline
        assert b"--api-key\0" + b"x" * len(key) + b"\0" in cmdline, cmdline
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
