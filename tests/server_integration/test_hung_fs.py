"""A sandbox whose fs process hangs (here: SIGSTOPped) must not wedge its callers or its
stop (K18). Before, an exec with timeout 3s waited 60 s for the fs process's control
socket and then ran its command on the hung mount anyway; ReadSandboxFile did the same
and then blocked in the kernel while holding the sandbox's activity lock, so a later
StopSandbox waited for it forever (only a server shutdown freed it). Now a call's wait
for the fs process is bounded by the call's own deadline (an exec's timeout, counted from
its arrival; a fixed 10 s for the file calls) and nothing is run when it does not answer
(FAILED_PRECONDITION / SANDBOX_NOT_RUNNING); StopSandbox aborts an fs process that does
not answer a ping within 3 s, kills it and leaves nothing behind. A fs process that is
alive but busy (a commit of many files) is waited for, as before."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from conftest import download, make_codebase, make_sandbox, run
from server_harness import (Server, cmdline, common, descendants, fs_processes, reason_of, rule,
                            running, sb, serving, wait_for)


@pytest.fixture(scope="module")
def srv():
    yield from serving("af-hung-")


def fs_process(server: Server, sandbox_id: str) -> int:
    [pid] = fs_processes(server, sandbox_id)
    return pid


def sandbox_mounts(sandbox_id: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if sandbox_id in line.split()[4]]


@contextmanager
def stopped(pid: int):
    """SIGSTOPs `pid`; SIGCONT afterwards however the test ends, so a failed test never
    leaves a stopped process behind (a no-op once the server killed it)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def refused_quickly(call, within: float) -> grpc.RpcError:
    """`call` fails FAILED_PRECONDITION / SANDBOX_NOT_RUNNING in under `within` seconds."""
    began = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        call()
    took = time.monotonic() - began
    assert took < within, f"answered after {took:.1f}s: {e.value.details()}"
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
    assert reason_of(e.value) == "SANDBOX_NOT_RUNNING", e.value.details()
    return e.value


def stop_quickly(server: Server, sandbox_id: str, fs_pid: int, own: set[int]) -> None:
    """StopSandbox returns within 10 s and leaves nothing: no fs process, mount, run
    directory or process of the sandbox."""
    run_dir = Path(cmdline(fs_pid)[-2]).parent  # the mountpoint <run dir>/mnt, last but ""
    assert run_dir.name == sandbox_id and run_dir.exists()
    began = time.monotonic()
    server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id), timeout=30)
    took = time.monotonic() - began
    assert took < 10, f"StopSandbox took {took:.1f}s"
    assert not Path(f"/proc/{fs_pid}").exists(), "the fs process was not killed and reaped"
    assert sandbox_mounts(sandbox_id) == []
    assert not run_dir.exists()
    wait_for(lambda: not [p for p in own if running(p)], 10)
    got = server.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
    assert got.status == common.SANDBOX_STATUS_STOPPED


def start_and_check(server: Server, sandbox_id: str) -> None:
    server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
    assert run(server, sandbox_id, "cat a.txt").stdout == "A"
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_calls_on_a_hung_fs_are_bounded_and_stop_ends_it(srv):
    before = set(descendants(srv.proc.pid))
    sandbox_id = make_sandbox(srv, make_codebase(srv, files={"a.txt": b"A"}),
                              [rule("**", "write")])
    session = srv.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox_id))
    own = set(descendants(srv.proc.pid)) - before
    fs_pid = fs_process(srv, sandbox_id)
    with stopped(fs_pid):
        three = Duration(seconds=3)
        # The timeout counts from the call's arrival, the wait for the fs included.
        error = refused_quickly(lambda: srv.sandboxes.Exec(sb.ExecRequest(
            sandbox_id=sandbox_id, command="cat a.txt", timeout=three), timeout=30), 5.5)
        assert "did not answer within 3s" in error.details()
        assert "nothing was run" in error.details()
        assert "control.sock" not in error.details()
        error = refused_quickly(lambda: srv.sandboxes.SessionExec(sb.SessionExecRequest(
            session_id=session.id, command="cat a.txt", timeout=three), timeout=30), 5.5)
        assert "did not answer within 3s" in error.details()
        # File calls carry no timeout: a fixed 10 s.
        for call in (lambda: srv.sandboxes.ReadSandboxFile(sb.ReadSandboxFileRequest(
                         sandbox_id=sandbox_id, path="/a.txt"), timeout=40),
                     lambda: srv.sandboxes.WriteSandboxFile(sb.WriteSandboxFileRequest(
                         sandbox_id=sandbox_id, path="/b.txt", content=b"B"), timeout=40),
                     lambda: srv.sandboxes.ListSandboxFiles(sb.ListSandboxFilesRequest(
                         sandbox_id=sandbox_id, path="/"), timeout=40)):
            assert "did not answer within 10s" in refused_quickly(call, 13).details()
        stop_quickly(srv, sandbox_id, fs_pid, own)
    # The refused commands are in the trail (sweep L, B4: a command whose call failed after
    # admission had no exec event at all).
    trail = [json.loads(e.line) for e in srv.sandboxes.GetAuditEvents(
        sb.GetAuditEventsRequest(sandbox_id=sandbox_id), timeout=30)]
    failed = {e["op"]: e for e in trail if e["op"].endswith("exec_failed")}
    assert set(failed) == {"exec_failed", "session_exec_failed"}, [e["op"] for e in trail]
    for event in failed.values():
        assert event["command"] == "cat a.txt" and event["outcome"] == "denied", event
        assert "did not answer within 3s" in event["error"], event
    start_and_check(srv, sandbox_id)


def server_blocked_on_fuse(server: Server) -> bool:
    """A thread of the server waits in the kernel for a FUSE answer."""
    for task in Path(f"/proc/{server.proc.pid}/task").iterdir():
        try:
            wchan = (task / "wchan").read_text()
        except OSError:
            continue
        if "fuse" in wchan or "request_wait_answer" in wchan:
            return True
    return False


def test_stop_ends_a_file_call_blocked_on_the_hung_mount(srv):
    """The wedge itself: a WriteSandboxFile (or ReadSandboxFile) blocked in the kernel on
    the hung mount holds the sandbox's activity lock, which StopSandbox waited for, forever.
    Caught by stopping the fs process while large writes run, until one is blocked in the
    kernel (each write is many FUSE requests, so that comes soon)."""
    before = set(descendants(srv.proc.pid))
    sandbox_id = make_sandbox(srv, make_codebase(srv, files={"a.txt": b"A"}),
                              [rule("**", "write")], sync_mode=common.SYNC_MODE_MANUAL)
    own = set(descendants(srv.proc.pid)) - before
    fs_pid = fs_process(srv, sandbox_id)
    done = threading.Event()
    writes = 0

    def write_on() -> None:
        nonlocal writes
        big = b"x" * (3 << 20)  # under the client's 4 MiB message limit
        while not done.is_set():
            try:
                srv.sandboxes.WriteSandboxFile(sb.WriteSandboxFileRequest(
                    sandbox_id=sandbox_id, path=f"/big{writes % 4}", content=big), timeout=60)
            except grpc.RpcError:
                pass  # refused or aborted once the fs process is stopped: expected
            writes += 1

    writer = threading.Thread(target=write_on, daemon=True)
    writer.start()
    try:
        for _ in range(300):
            os.kill(fs_pid, signal.SIGSTOP)
            time.sleep(0.05)
            if server_blocked_on_fuse(srv):
                break
            os.kill(fs_pid, signal.SIGCONT)
            time.sleep(0.01)
        else:
            pytest.fail(f"no file call was ever caught blocked on the mount ({writes} writes)")
        with stopped(fs_pid):
            stop_quickly(srv, sandbox_id, fs_pid, own)
        done.set()
        writer.join(30)
        assert not writer.is_alive(), "the blocked WriteSandboxFile never returned"
    finally:
        done.set()
        try:
            os.kill(fs_pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    start_and_check(srv, sandbox_id)


def test_a_busy_fs_is_waited_for_not_killed(srv):
    """A stop during a commit of many files (the fs process busy for seconds, but answering
    pings) waits for the commit, which lands in full."""
    codebase_id = make_codebase(srv, files={"a.txt": b"A"})
    sandbox_id = make_sandbox(srv, codebase_id, [rule("**", "write")],
                              sync_mode=common.SYNC_MODE_MANUAL)
    run(srv, sandbox_id, "mkdir d && cd d && seq 1 20000 | xargs touch && echo last > last",
        timeout=Duration(seconds=120))
    result: list = []
    committer = threading.Thread(target=lambda: result.append(srv.sandboxes.CommitChanges(
        sb.CommitChangesRequest(sandbox_id=sandbox_id), timeout=120)))
    began = time.monotonic()
    committer.start()
    time.sleep(0.5)
    srv.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id), timeout=120)
    stop_took = time.monotonic() - began
    committer.join(120)
    assert result, "the commit failed"
    commit = result[0]
    assert len(commit.applied) + commit.applied_omitted == 20002, commit
    assert download(srv, codebase_id, "d/last") == b"last\n"
    print(f"commit + stop took {stop_took:.1f}s")
    srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
