"""The JSON-RPC layer of `agentfense mcp`, byte by byte over stdio: malformed messages get
the error codes JSON-RPC and MCP name, version negotiation, cancellation, and an orderly
end (stdin closed or SIGTERM) that leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from mcp_harness import RawStdio, alive, descendants, mcp_args

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "raw", "version": "0"}}}


def test_malformed_messages_get_the_json_rpc_error_codes(agentfense: str, repo: Path) -> None:
    raw = RawStdio(agentfense, repo)
    try:
        # Before initialize: ping works, tools do not.
        assert raw.request({"jsonrpc": "2.0", "id": "p", "method": "ping"}) == {
            "jsonrpc": "2.0", "id": "p", "result": {}}
        early = raw.request({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert early["error"]["code"] == -32600 and early["id"] == 2
        raw.initialize()

        parse_errors = [b'{"jsonrpc": "2.0", "id": 3, "method": "ping"', b"not json",
                        b'{"jsonrpc":"2.0","id":4,"method":"\xff\xfe"}']
        for data in parse_errors:
            raw.send(data)
            reply = raw.receive()
            assert reply["error"]["code"] == -32700, data
            assert reply["id"] is None and reply["jsonrpc"] == "2.0"

        invalid = [
            (b'{"id": 5, "method": "ping"}', 5),                        # no "jsonrpc"
            (b'{"jsonrpc": "1.0", "id": 6, "method": "ping"}', 6),      # wrong version
            (b'{"jsonrpc": "2.0", "id": 7}', 7),                        # no method
            (b'{"jsonrpc": "2.0", "id": 8, "method": 42}', 8),          # method not a string
            (b'{"jsonrpc": "2.0", "id": null, "method": "ping"}', None),  # null id
            (b'{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}', None),  # fractional id
            (b'{"jsonrpc": "2.0", "id": 9, "method": "ping", "params": "x"}', 9),
            (b"[]", None),
            (b'[{"jsonrpc": "2.0", "id": 10, "method": "ping"}]', None),  # batch
            (b'"hello"', None),
        ]
        for data, expected_id in invalid:
            raw.send(data)
            reply = raw.receive()
            assert reply["error"]["code"] == -32600, data
            assert reply["id"] == expected_id, data

        for method in ("resources/list", "prompts/get", "server/discover", "tools/run"):
            reply = raw.request({"jsonrpc": "2.0", "id": method, "method": method, "params": {}})
            assert reply["error"]["code"] == -32601 and reply["id"] == method

        bad_params = [
            {"method": "tools/call", "params": {}},                               # no name
            {"method": "tools/call", "params": {"name": 5}},
            {"method": "tools/call", "params": {"name": "nope", "arguments": {}}},  # unknown tool
            {"method": "tools/call", "params": {"name": "run", "arguments": "ls"}},
            {"method": "tools/call", "params": {"name": "run", "arguments": {"command": "true"},
                                                "_meta": {"progressToken": [1]}}},
            {"method": "initialize", "params": {"capabilities": {}}},            # no version
            {"method": "tools/list", "params": [1, 2]},                            # positional
        ]
        for number, message in enumerate(bad_params):
            reply = raw.request({"jsonrpc": "2.0", "id": 100 + number, **message})
            assert reply["error"]["code"] == -32602, message
            assert reply["id"] == 100 + number

        # A tool's own argument errors are results the model can act on, not protocol errors.
        reply = raw.request({"jsonrpc": "2.0", "id": 200, "method": "tools/call",
                             "params": {"name": "run", "arguments": {}}})
        assert reply["result"]["isError"] is True
        assert "missing required argument 'command'" in reply["result"]["content"][0]["text"]

        # Unknown notifications and stray responses get no answer; the stream goes on.
        raw.send(b'{"jsonrpc": "2.0", "method": "notifications/whatever"}')
        raw.send(b'{"jsonrpc": "2.0", "id": 77, "result": {}}')
        raw.send(b"")  # blank lines are ignored
        assert raw.request({"jsonrpc": "2.0", "id": "last", "method": "ping"})["id"] == "last"
    finally:
        code, stderr = raw.close()
    assert code == 0, stderr


def test_protocol_version_negotiation(agentfense: str, repo: Path) -> None:
    for asked, answered in [("2024-11-05", "2024-11-05"), ("2025-03-26", "2025-03-26"),
                            ("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"),
                            ("1999-01-01", "2025-11-25"), ("2026-07-28", "2025-11-25")]:
        raw = RawStdio(agentfense, repo)
        try:
            message = json.loads(json.dumps(INITIALIZE))
            message["params"]["protocolVersion"] = asked
            result = raw.request(message)["result"]
            assert result["protocolVersion"] == answered, asked
            assert result["capabilities"] == {"tools": {"listChanged": False}}
            assert result["serverInfo"]["name"] == "agentfense"
        finally:
            assert raw.close()[0] == 0


def test_cancelled_call_is_killed_and_not_answered(agentfense: str, repo: Path) -> None:
    raw = RawStdio(agentfense, repo)
    try:
        raw.initialize()
        raw.send(json.dumps({"jsonrpc": "2.0", "id": "long", "method": "tools/call",
                             "params": {"name": "run", "arguments": {
                                 "command": "echo x > output/cancelled.txt; exec sleep 300"}}}
                            ).encode())
        deadline = time.monotonic() + 30
        while not any(Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\x00300")
                      for pid in alive(descendants(raw.process.pid))
                      if Path(f"/proc/{pid}/cmdline").exists()):
            assert time.monotonic() < deadline, "the command did not start"
            time.sleep(0.05)
        raw.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled",
                             "params": {"requestId": "long", "reason": "user"}}).encode())
        # The ping's answer comes next: the cancelled call is never answered.
        assert raw.request({"jsonrpc": "2.0", "id": "after", "method": "ping"})["id"] == "after"
        deadline = time.monotonic() + 10
        while any(b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes()
                  for pid in alive(descendants(raw.process.pid))
                  if Path(f"/proc/{pid}/cmdline").exists()):
            assert time.monotonic() < deadline, "the cancelled command still runs"
            time.sleep(0.05)
    finally:
        code, stderr = raw.close()
    assert code == 0, stderr
    assert "A /output/cancelled.txt" in stderr  # what it wrote before is still reviewed


def test_stdin_closed_ends_the_server_and_leaves_no_process(agentfense: str, repo: Path) -> None:
    raw = RawStdio(agentfense, repo)
    raw.initialize()
    reply = raw.request({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                         "params": {"name": "session_run", "arguments": {"command": "sleep 300 &"}}})
    assert reply["result"]["isError"] is False
    children = alive(descendants(raw.process.pid))
    assert children, "the sandbox's fs process and shell should be running"
    mountpoints = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2].decode()
                   for pid in children
                   if b"\0mount\0" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(mountpoints) == 1 and mountpoints[0].endswith("/mnt"), mountpoints
    run_dir = Path(mountpoints[0]).parent
    assert run_dir.is_dir()
    code, stderr = raw.close()
    assert code == 0, stderr
    assert not alive(children), "processes of the sandbox outlived the server"
    assert mountpoints[0] not in Path("/proc/self/mounts").read_text()
    assert not run_dir.exists(), "the run directory was left behind"


def long_sleep_started(pid: int) -> bool:
    for child in alive(descendants(pid)):
        try:
            if Path(f"/proc/{child}/cmdline").read_bytes().startswith(b"sleep\x00300"):
                return True
        except FileNotFoundError:
            pass
    return False


def start_long_call(raw: RawStdio) -> set[int]:
    """Sends a call running `sleep 300`; returns the server's processes once it runs."""
    raw.initialize()
    raw.send(json.dumps({"jsonrpc": "2.0", "id": "long", "method": "tools/call",
                         "params": {"name": "run", "arguments": {
                             "command": "exec sleep 300", "timeout": 600}}}).encode())
    deadline = time.monotonic() + 30
    while not long_sleep_started(raw.process.pid):
        assert time.monotonic() < deadline, "the command did not start"
        time.sleep(0.05)
    return alive(descendants(raw.process.pid))


def kill_if_running(raw: RawStdio, children: set[int]) -> None:
    """A server that did not end by itself (the bug) goes, with the sandbox under it."""
    if raw.process.poll() is None:
        for pid in alive(children | descendants(raw.process.pid)):
            os.kill(pid, signal.SIGKILL)
        raw.process.kill()
        raw.process.wait()


def test_stdin_closed_answers_short_calls_and_kills_long_ones(agentfense: str,
                                                              repo: Path) -> None:
    """On end of input the server waited for every running call, up to its timeout: a
    client that died left the agent's commands running for as long as 30 minutes."""
    raw = RawStdio(agentfense, repo)
    children = start_long_call(raw)
    raw.send(json.dumps({"jsonrpc": "2.0", "id": "short", "method": "tools/call",
                         "params": {"name": "run", "arguments": {
                             "command": "sleep 1; echo done"}}}).encode())
    assert raw.process.stdin is not None and raw.process.stdout is not None
    answers: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: answers.extend(
        json.loads(line) for line in raw.process.stdout or []))  # up to the server's exit
    reader.start()
    raw.process.stdin.close()
    closed = time.monotonic()
    try:
        assert raw.process.wait(timeout=30) == 0
    finally:
        kill_if_running(raw, children)  # the bug: still waiting for `sleep 300`
        reader.join()
    assert time.monotonic() - closed < 20
    # The call that could finish in time was answered; the long one was killed unanswered.
    assert [answer["id"] for answer in answers] == ["short"], answers
    assert answers[0]["result"]["structuredContent"]["stdout"] == "done\n"
    assert not alive(children), "the command outlived the server"


def test_stdin_and_stdout_closed_kill_running_calls_at_once(agentfense: str,
                                                            repo: Path) -> None:
    """A client that is gone (its end of stdout closed) cannot read any answer: the
    calls are cancelled without waiting for them."""
    raw = RawStdio(agentfense, repo)
    children = start_long_call(raw)
    assert raw.process.stdin is not None and raw.process.stdout is not None
    raw.process.stdout.close()
    raw.process.stdin.close()
    closed = time.monotonic()
    try:
        assert raw.process.wait(timeout=30) == 0
    finally:
        kill_if_running(raw, children)
    assert time.monotonic() - closed < 4  # well under the grace given to reachable answers
    assert not alive(children), "the command outlived the server"


def test_sigterm_kills_running_commands_and_still_shows_changes(
        agentfense: str, repo: Path) -> None:
    raw = RawStdio(agentfense, repo)
    raw.initialize()
    raw.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                         "params": {"name": "run", "arguments": {
                             "command": "echo partial > output/p.txt; sleep 300"}}}).encode())
    time.sleep(1.5)
    children = alive(descendants(raw.process.pid))
    started = time.monotonic()
    raw.process.send_signal(signal.SIGTERM)
    assert raw.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 10
    assert not alive(children)
    assert raw.process.stderr is not None
    stderr = raw.process.stderr.read().decode()
    assert "A /output/p.txt" in stderr and "+partial" in stderr
    assert not (repo / "output" / "p.txt").exists()


def test_bad_flags_are_refused_with_a_clear_error(agentfense: str, repo: Path) -> None:
    cases = [
        (["--server", "http://127.0.0.1:8080", "--api-key", "k"], "DIR is not taken with --server"),
        (["--api-key", "k"], "--api-key, --sandbox and --ca-cert go with --server URL"),
        (["--runtime", "docker"], "--runtime docker needs --image IMAGE"),
        (["--runtime", "lxc"], "--runtime must be bwrap or docker"),
        (["--http", "0.0.0.0:8000"], "listens on loopback only"),
        (["--http", "nope"], "--http expects PORT or HOST:PORT"),
        (["--changes", "maybe"], "--changes must be show, apply or discard"),
        (["--timeout", "100", "--max-timeout", "10"], "--timeout must not exceed --max-timeout"),
        (["--rule", "src/[a-=read"], "unterminated"),
    ]
    for flags, message in cases:
        result = subprocess.run([agentfense, *mcp_args(repo, *flags)], input=b"",
                                capture_output=True, timeout=30)
        assert result.returncode == 2, (flags, result.stderr)
        assert message in result.stderr.decode(), (flags, result.stderr)
        assert result.stdout == b""
    missing = subprocess.run([agentfense, "mcp", str(repo / "nope")], input=b"",
                             capture_output=True, timeout=30)
    assert missing.returncode == 2 and b"nope" in missing.stderr


def test_help_describes_the_tools_and_the_client_configuration(agentfense: str) -> None:
    result = subprocess.run([agentfense, "mcp", "--help"], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0
    for text in ("--allow-commit", "--http", "--changes", "mcpServers", "session_run",
                 "read_file"):
        assert text in result.stdout, text
