"""What the agent on the other end of `agentfense mcp` sends cannot lift the server's
limits: a message nested too deep is refused (it crashed the server, SIGSEGV, before),
and a timeout under a millisecond is not "no deadline"."""

from __future__ import annotations

import json
import time
from pathlib import Path

from mcp_harness import RawStdio


def tool_call(raw: RawStdio, call_id: int, name: str, arguments: dict) -> dict:
    return raw.request({"jsonrpc": "2.0", "id": call_id, "method": "tools/call",
                        "params": {"name": name, "arguments": arguments}})


def test_a_message_nested_too_deep_is_refused_and_the_server_goes_on(agentfense: str,
                                                                      repo: Path) -> None:
    raw = RawStdio(agentfense, repo)
    try:
        raw.initialize()
        deep = (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"x":'
                + b"[" * 100000 + b"]" * 100000 + b"}}")
        raw.send(deep)
        reply = raw.receive()
        assert reply["error"]["code"] == -32600, reply
        assert "nested deeper than 64" in reply["error"]["message"], reply
        assert raw.request({"jsonrpc": "2.0", "id": "p", "method": "ping"})["result"] == {}
    finally:
        code, stderr = raw.close()
    assert code == 0, stderr


def test_a_timeout_under_a_millisecond_still_stops_the_command(agentfense: str,
                                                                 repo: Path) -> None:
    raw = RawStdio(agentfense, repo, "--max-timeout", "2", "--timeout", "1")
    try:
        raw.initialize()
        start = time.monotonic()
        reply = tool_call(raw, 1, "run", {"command": "sleep 4; echo done", "timeout": 0.0001})
        elapsed = time.monotonic() - start
        assert elapsed < 3, f"ran {elapsed:.1f}s past a 0.1 ms timeout: {json.dumps(reply)[:300]}"
        assert reply["result"].get("isError"), reply
    finally:
        raw.close()


def test_files_that_are_not_regular_and_offsets_past_int64_are_refused(agentfense: str,
                                                                       repo: Path) -> None:
    """read_file and write_file of a FIFO the agent made waited out their 120 s script
    timeout; an offset of 2^64-1 read the file from its start."""
    raw = RawStdio(agentfense, repo)
    try:
        raw.initialize()
        made = tool_call(raw, 1, "run", {"command": "mkfifo /workspace/output/pipe"})
        assert not made["result"].get("isError"), made
        start = time.monotonic()
        for call_id, (name, arguments) in enumerate([
                ("read_file", {"path": "output/pipe"}),
                ("write_file", {"path": "output/pipe", "content": "x"})], start=2):
            reply = tool_call(raw, call_id, name, arguments)
            assert reply["result"].get("isError"), reply
            assert "not a regular file" in reply["result"]["content"][0]["text"], reply
        assert time.monotonic() - start < 20
        huge = tool_call(raw, 4, "read_file", {"path": "output/report.txt", "offset": 2**64 - 1})
        assert huge["result"].get("isError"), huge
        assert "offset must be an integer" in huge["result"]["content"][0]["text"], huge
    finally:
        raw.close()


def test_max_entries_past_int64_is_refused_naming_it(agentfense: str, repo: Path) -> None:
    """max_entries of 2^63 or more wrapped negative: `head -n 0`, then resize() to 2^64-1
    entries threw std::length_error ("vector::_M_default_append") out of list_files."""
    raw = RawStdio(agentfense, repo)
    try:
        raw.initialize()
        for call_id, huge in enumerate([2**63, 2**64 - 1], start=1):
            reply = tool_call(raw, call_id, "list_files", {"max_entries": huge})
            assert reply["result"].get("isError"), reply
            text = reply["result"]["content"][0]["text"]
            assert "max_entries must be an integer" in text, reply
        fine = tool_call(raw, 3, "list_files", {"max_entries": 2**63 - 1})
        assert not fine["result"].get("isError"), fine
        assert fine["result"]["structuredContent"]["entries"], fine
    finally:
        code, stderr = raw.close()
    assert code == 0, stderr
