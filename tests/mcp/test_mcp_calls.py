"""How `agentfense mcp` bounds the tool calls an untrusted agent sends over stdio: finished
calls leave no thread behind, at most 16 run at once (the rest are refused, not queued),
and a request id can be in flight only once so that cancellation and SIGTERM reach every
running call."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from mcp_harness import RawStdio, alive, descendants, sleeps_running

MAX_RUNNING = 16  # the limit docs/agents.md promises


def tool_call(call_id: Any, name: str, arguments: dict[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": call_id, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments}}).encode()


def mappings_of(pid: int) -> int:
    """An exited thread leaves /proc/PID/task at once, but until it is joined its stack
    (and guard page) stay mapped: the mappings show a leak the task list does not."""
    return len(Path(f"/proc/{pid}/maps").read_text().splitlines())


def send_rejected_calls(raw: RawStdio, first: int, total: int) -> None:
    replies: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: replies.extend(raw.receive() for _ in range(total)))
    reader.start()
    for start in range(first, first + total, 500):
        raw.send(b"\n".join(tool_call(n, "read_file", {"bogus": 1})
                            for n in range(start, start + 500)))
    reader.join(timeout=60)
    assert len(replies) == total
    assert all(reply["result"]["isError"] for reply in replies)


def test_finished_calls_leave_no_thread_behind(agentfense: str, repo: Path) -> None:
    """Each call's thread stayed (its stack mapped) until exit: 3,000 calls added ~6,000
    mappings. A first round lets the allocator make its per-thread arenas (a bounded
    number, more under load); the second must then add almost nothing."""
    raw = RawStdio(agentfense, repo)
    try:
        raw.initialize()
        tasks_before = len(os.listdir(f"/proc/{raw.process.pid}/task"))
        send_rejected_calls(raw, 0, 3000)
        after_first = mappings_of(raw.process.pid)
        send_rejected_calls(raw, 3000, 3000)
        # Every call has been answered: its thread must be gone, not kept until exit.
        assert mappings_of(raw.process.pid) <= after_first + 100, (after_first,
                                                                   mappings_of(raw.process.pid))
        assert len(os.listdir(f"/proc/{raw.process.pid}/task")) <= tasks_before + 4
    finally:
        code, stderr = raw.close()
    assert code == 0, stderr


def test_calls_beyond_the_limit_are_refused_while_others_run(
        agentfense: str, repo: Path) -> None:
    raw = RawStdio(agentfense, repo)
    try:
        raw.initialize()
        extra = 4
        for n in range(MAX_RUNNING + extra):
            raw.send(tool_call(f"s{n}", "run", {"command": "exec sleep 30"}))
        refused = [raw.receive() for _ in range(extra)]
        for reply in refused:
            assert reply["result"]["isError"] is True, reply
            text = reply["result"]["content"][0]["text"]
            assert f"{MAX_RUNNING} tool calls are already running" in text, text
        deadline = time.monotonic() + 30
        while sleeps_running(raw.process.pid) < MAX_RUNNING:
            assert time.monotonic() < deadline, "the admitted calls did not start"
            time.sleep(0.05)
        assert sleeps_running(raw.process.pid) == MAX_RUNNING
        # Cheap messages are still answered, and a finished call frees its slot.
        assert raw.request({"jsonrpc": "2.0", "id": "p", "method": "ping"})["id"] == "p"
        raw.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled",
                             "params": {"requestId": "s0"}}).encode())
        deadline = time.monotonic() + 10
        while sleeps_running(raw.process.pid) >= MAX_RUNNING:
            assert time.monotonic() < deadline, "the cancelled call still runs"
            time.sleep(0.05)
        # The cancelled call frees its slot once its thread has seen the kill (it sends
        # no answer to wait for), so a retry may be needed.
        for attempt in range(50):
            reply = raw.request(json.loads(tool_call(f"after{attempt}", "run",
                                                     {"command": "echo ok"})))
            if not reply["result"]["isError"]:
                break
            time.sleep(0.1)
        assert reply["result"]["structuredContent"]["stdout"] == "ok\n", reply
    finally:
        raw.process.send_signal(signal.SIGTERM)
        raw.process.wait(timeout=30)


def test_a_request_id_already_in_flight_is_refused(agentfense: str, repo: Path) -> None:
    raw = RawStdio(agentfense, repo)
    try:
        raw.initialize()
        raw.send(tool_call(5, "run", {"command": "exec sleep 60"}))
        reply = raw.request(json.loads(tool_call(5, "run", {"command": "echo second"})))
        assert reply["id"] == 5 and reply["error"]["code"] == -32600, reply
        assert "request id 5 is already in flight" in reply["error"]["message"]
        # The string "5" is another id; the first call is still the one cancellation reaches.
        reply = raw.request(json.loads(tool_call("5", "run", {"command": "echo other"})))
        assert reply["id"] == "5" and reply["result"]["isError"] is False, reply
        deadline = time.monotonic() + 30
        while sleeps_running(raw.process.pid) < 1:
            assert time.monotonic() < deadline, "the first call did not start"
            time.sleep(0.05)
    finally:
        started = time.monotonic()
        raw.process.send_signal(signal.SIGTERM)
        code = raw.process.wait(timeout=30)
    assert time.monotonic() - started < 10, "SIGTERM did not stop the first call"
    assert code == 0


def test_sigterm_stops_calls_that_reused_an_id(agentfense: str, repo: Path) -> None:
    """The attack as sent: the second call with id 5 ends first; SIGTERM must still kill
    the first one at once."""
    raw = RawStdio(agentfense, repo)
    raw.initialize()
    raw.send(tool_call(5, "run", {"command": "exec sleep 60"}))
    time.sleep(0.5)
    raw.send(tool_call(5, "run", {"command": "sleep 1; echo short"}))
    raw.receive()
    time.sleep(0.5)
    children = alive(descendants(raw.process.pid))
    started = time.monotonic()
    raw.process.send_signal(signal.SIGTERM)
    try:
        code = raw.process.wait(timeout=30)
    finally:
        if raw.process.poll() is None:
            raw.process.kill()
    assert time.monotonic() - started < 10, "SIGTERM waited for the first call's command"
    assert code == 0
    assert not alive(children)
