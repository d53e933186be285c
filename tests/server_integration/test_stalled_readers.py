"""A client that stops reading but keeps its connection alive (answers PINGs, opens no
HTTP/2 window: stalled_h2_client.py). gRPC's synchronous sends waited for it forever
(sweep S): an ExecStream's write blocked the loop that enforces the command's timeout, so
a `timeout: 3s` command ran on, and its sandbox's later execs, DiscardChanges and
DestroySandbox hung; unary answers stayed unsent with their output budget held. The server
now cancels a stream whose message is not taken within 10 s, and a unary answer holding
output budget not taken within 60 s (docs/api.md, limits)."""

from __future__ import annotations

import subprocess
import time

from google.protobuf import duration_pb2

from conftest import make_codebase, make_sandbox
from server_harness import sb, serving
from stalled_h2_client import StalledH2Client

import pytest


@pytest.fixture(scope="module")
def server():
    yield from serving("af-stalled-")


def running(marker: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()


def test_a_stream_whose_client_stops_reading_ends_and_frees_its_sandbox(server):
    sandbox = make_sandbox(server, make_codebase(server))
    marker = "stalled-stream-marker-1"
    client = StalledH2Client(server.grpc_port)
    try:
        stream = client.call("/sandbox.v1.SandboxService/ExecStream", sb.ExecRequest(
            sandbox_id=sandbox, command=f"exec yes {marker}",
            timeout=duration_pb2.Duration(seconds=3)).SerializeToString())
        deadline = time.monotonic() + 25
        while not client.finished(stream) or running(marker):
            assert time.monotonic() < deadline, (
                "the stalled stream was not cancelled: its command still runs past its timeout")
            time.sleep(0.2)
        # The sandbox is free again: a writing exec (and the sync after it) and a discard.
        result = server.sandboxes.Exec(sb.ExecRequest(
            sandbox_id=sandbox, command="echo hi > /workspace/output/x && echo ok"), timeout=15)
        assert result.stdout == "ok\n"
        server.sandboxes.DiscardChanges(sb.DiscardChangesRequest(sandbox_id=sandbox), timeout=15)
    finally:
        client.close()
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox), timeout=30)


def test_an_unread_unary_exec_answer_is_cancelled_and_its_budget_given_back(server):
    sandbox = make_sandbox(server, make_codebase(server))
    client = StalledH2Client(server.grpc_port)
    try:
        started = time.monotonic()
        stream = client.call("/sandbox.v1.SandboxService/Exec", sb.ExecRequest(
            sandbox_id=sandbox, command="head -c 8388608 /dev/zero | tr '\\0' a"
        ).SerializeToString())
        while not client.finished(stream):
            assert time.monotonic() - started < 90, "the unread answer was never cancelled"
            time.sleep(0.5)
        assert client.status.get(stream) == "1", "the unread answer was not cancelled (CANCELLED)"
        assert time.monotonic() - started > 50, "cancelled before its 60 s deadline"
    finally:
        client.close()
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox), timeout=30)
