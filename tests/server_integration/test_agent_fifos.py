"""A FIFO the agent plants where the client will read or write a file (`mkfifo
output/report.txt`) must not wedge the server: the sandbox file API refuses it at once
as not a regular file, over gRPC and REST, and the sandbox still runs commands, stops,
and the server still stops on SIGTERM (the module's server fixture checks that)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from conftest import run
from server_harness import common, reason_of, sb, serving

DEADLINE = 5  # seconds; a blocked open(2) would run past it


@pytest.fixture(scope="module")
def server():
    # No docker here: the FIFO is a bwrap sandbox's doing.
    yield from serving("af-server-")


def refused_as_fifo(call, kind: str = "a FIFO") -> None:
    with pytest.raises(grpc.RpcError) as refused:
        call(timeout=DEADLINE)
    error = refused.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert f"/output/pipe is not a regular file ({kind})" in error.details()
    assert reason_of(error) == "INVALID_PATH"


def test_file_api_refuses_a_fifo_and_the_sandbox_stays_usable(server, sandbox):
    run(server, sandbox, "mkfifo output/pipe")
    read = sb.ReadSandboxFileRequest(sandbox_id=sandbox, path="/output/pipe")
    write = sb.WriteSandboxFileRequest(sandbox_id=sandbox, path="/output/pipe", content=b"task")
    refused_as_fifo(lambda **kw: server.sandboxes.ReadSandboxFile(read, **kw))
    # Opening a FIFO to write with no reader fails at once (ENXIO), before any fstat.
    refused_as_fifo(lambda **kw: server.sandboxes.WriteSandboxFile(write, **kw),
                    "a FIFO or a socket")

    http = server.client().http
    url = f"{server.http}/v1/sandboxes/{sandbox}/content/output/pipe"
    for answer in (http.get(url, timeout=DEADLINE), http.put(url, data=b"task", timeout=DEADLINE)):
        assert answer.status_code == 400, answer.text
        assert "/output/pipe is not a regular file" in answer.json()["message"]

    # A reader waiting in the agent makes the write's open succeed: refused all the same,
    # and the reader sees the server's end close without a byte written.
    with ThreadPoolExecutor(1) as pool:
        reader = pool.submit(run, server, sandbox, "wc -c < output/pipe")
        time.sleep(1)  # the reader is blocked in open(2)
        refused_as_fifo(lambda **kw: server.sandboxes.WriteSandboxFile(write, **kw))
        assert reader.result(timeout=DEADLINE).stdout.strip() == "0"

    # Nothing holds the sandbox's command section or the mount.
    alive = server.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox, command="echo alive"),
                                  timeout=10)
    assert alive.stdout == "alive\n"
    listing = server.sandboxes.ListSandboxFiles(
        sb.ListSandboxFilesRequest(sandbox_id=sandbox, path="/output"), timeout=DEADLINE)
    assert "/output/pipe" in [f.path for f in listing.files]
    stopped = server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox),
                                           timeout=20)
    assert stopped.status == common.SANDBOX_STATUS_STOPPED


# Runs inside the sandbox: a file under the 64 MiB read limit that grows to 1 GiB (sparse,
# within the write quota) as soon as someone opens it.
GROW_ON_OPEN = r"""
import ctypes, os, time
path = "/workspace/output/log.txt"
with open(path, "w") as f: f.write("log\n")
os.truncate(path, 60 << 20)
libc = ctypes.CDLL(None, use_errno=True)
watch = libc.inotify_init1(0)
libc.inotify_add_watch(watch, path.encode(), 0x20)  # IN_OPEN
open("/workspace/output/ready", "w").close()
os.read(watch, 4096)
os.truncate(path, 1 << 30)
time.sleep(3)
"""


def peak_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))


def test_a_file_grown_while_it_is_read_is_refused_not_held(server, sandbox):
    """ReadSandboxFile checked the 64 MiB limit at open, then read to the end: an agent
    that grows the file once it is opened made the server hold gigabytes."""
    with ThreadPoolExecutor(1) as pool:
        agent = pool.submit(run, server, sandbox, f"python3 -c '{GROW_ON_OPEN}'")
        ready = sb.ReadSandboxFileRequest(sandbox_id=sandbox, path="/output/ready")
        deadline = time.monotonic() + 30
        while True:
            try:
                server.sandboxes.ReadSandboxFile(ready)
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline and not agent.done(), agent.result()
                time.sleep(0.1)
        before = peak_rss_bytes(server.proc.pid)
        with pytest.raises(grpc.RpcError) as refused:
            server.sandboxes.ReadSandboxFile(
                sb.ReadSandboxFileRequest(sandbox_id=sandbox, path="/output/log.txt"), timeout=60)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value.details()
        # Grown between the server's open and its size check, or while it reads: either
        # way refused, and what matters is that the server did not hold it (seen both
        # ways in CI, by timing).
        assert ("grew past 64 MiB while it was read" in refused.value.details()
                or "is larger than 64 MiB" in refused.value.details()), refused.value.details()
        grown_mib = (peak_rss_bytes(server.proc.pid) - before) >> 20
        assert grown_mib < 200, f"the server's peak memory grew by {grown_mib} MiB"
        assert agent.result().exit_code == 0, agent.result()
