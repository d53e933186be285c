"""Stopping a sandbox while a command still runs in it (a one-shot exec or a session's)
must end that command and the sandbox's fs process before StopSandbox returns. Before,
the fs process lived on until the command let go of the sandbox, so a StartSandbox right
after put a second fs process on the same write layer: two writers on one journal (the
fs now also refuses that outright: tests/integration/test_state_lock.py)."""

from __future__ import annotations

import fcntl
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from conftest import download, make_codebase, make_sandbox, run
from server_harness import (Server, cmdline, common, descendants, fs_processes, reason_of, rule,
                            running, sb, serving, wait_for)

LONG = "sleep 47"  # a command line no other test runs


@pytest.fixture(scope="module")
def srv():
    yield from serving("af-stop-")


def long_commands(server: Server) -> list[int]:
    return [pid for pid in descendants(server.proc.pid) if " ".join(cmdline(pid)).startswith(LONG)]


def stop_and_start_while(server: Server, sandbox_id: str, command) -> tuple[list[int], float]:
    """Runs `command` (which blocks in the sandbox) on a thread, stops the sandbox once
    the command runs, and starts it again at once. Returns the fs processes left right
    after the stop, and how long the command took to return."""
    assert len(fs_processes(server, sandbox_id)) == 1
    with ThreadPoolExecutor(1) as pool:
        began = time.monotonic()
        pending = pool.submit(command)
        wait_for(lambda: long_commands(server))
        server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
        left = fs_processes(server, sandbox_id)
        server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
        try:
            pending.result(timeout=60)
        except grpc.RpcError:
            pass  # cancelled or aborted by the stop: either is fine here
        took = time.monotonic() - began
    return left, took


def check_restarted(server: Server, sandbox_id: str, left: list[int], took: float) -> None:
    assert left == [], f"fs processes {left} outlived StopSandbox"
    assert not long_commands(server), "the command outlived StopSandbox"
    assert took < 40, f"the command was not stopped (returned after {took:.1f}s)"
    # One fs process serves the restarted sandbox, and it works.
    assert len(fs_processes(server, sandbox_id)) == 1
    assert run(server, sandbox_id, "cat a.txt").stdout == "1\n"
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    assert fs_processes(server, sandbox_id) == []


def test_stop_during_an_exec_ends_it_and_the_fs_before_returning(srv):
    sandbox_id = make_sandbox(srv, make_codebase(srv, files={"a.txt": b"1\n"}))
    left, took = stop_and_start_while(
        srv, sandbox_id, lambda: run(srv, sandbox_id, LONG, timeout=Duration(seconds=120)))
    check_restarted(srv, sandbox_id, left, took)


def test_stop_during_a_session_command_ends_it_and_the_fs_before_returning(srv):
    sandbox_id = make_sandbox(srv, make_codebase(srv, files={"a.txt": b"1\n"}))
    session = srv.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox_id))
    left, took = stop_and_start_while(srv, sandbox_id, lambda: srv.sandboxes.SessionExec(
        sb.SessionExecRequest(session_id=session.id, command=LONG,
                              timeout=Duration(seconds=120))))
    check_restarted(srv, sandbox_id, left, took)


def test_a_stopped_sandboxs_layer_another_process_holds_is_left_alone(srv):
    """A process still serving a stopped sandbox's write layer (an fs process a crashed
    server left behind, which recovery could not end) holds its state lock. Reviewing,
    committing or discarding the layer beside it would make two writers on one journal:
    each is refused with FAILED_PRECONDITION / WRITE_LAYER_BUSY naming the holder, and
    nothing reaches the codebase until the holder lets go."""
    codebase = make_codebase(srv, files={"a.txt": b"1\n"})
    sandbox_id = make_sandbox(srv, codebase, [rule("**", "write")],
                              sync_mode=common.SYNC_MODE_MANUAL)
    run(srv, sandbox_id, "echo 2 > a.txt")
    srv.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
    lock_path = Path(srv.data_dir) / "sandboxes" / sandbox_id / "state" / "lock"
    with open(lock_path, "r+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.truncate(0)
        holder.write(f"{os.getpid()}\n")
        holder.flush()
        sid = sb.ListChangesRequest(sandbox_id=sandbox_id)
        for call in (lambda: srv.sandboxes.ListChanges(sid),
                     lambda: srv.sandboxes.DiffChanges(sb.DiffChangesRequest(sandbox_id=sandbox_id)),
                     lambda: srv.sandboxes.CommitChanges(
                         sb.CommitChangesRequest(sandbox_id=sandbox_id)),
                     lambda: srv.sandboxes.DiscardChanges(
                         sb.DiscardChangesRequest(sandbox_id=sandbox_id))):
            with pytest.raises(grpc.RpcError) as refused:
                call()
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert reason_of(refused.value) == "WRITE_LAYER_BUSY"
            assert f"pid {os.getpid()}" in refused.value.details()
        assert download(srv, codebase, "a.txt") == b"1\n"
        s = srv.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
        assert s.status == common.SANDBOX_STATUS_STOPPED
    # Let go: the layer is the sandbox's again, with its change intact.
    changes = srv.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox_id))
    assert [c.path for c in changes.changes] == ["/a.txt"]
    result = srv.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))
    assert list(result.applied) == ["/a.txt"] and download(srv, codebase, "a.txt") == b"2\n"
    srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def sandbox_mounts(sandbox_id: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if sandbox_id in line.split()[4]]


def expect_not_running(call) -> None:
    """Refused FAILED_PRECONDITION / SANDBOX_NOT_RUNNING, never INTERNAL with an errno."""
    with pytest.raises(grpc.RpcError) as e:
        call()
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
    assert reason_of(e.value) == "SANDBOX_NOT_RUNNING", e.value.details()
    assert "/mnt" not in e.value.details() and "control.sock" not in e.value.details()


def kill_fs_and_wait_for_error(server: Server, sandbox_id: str):
    """kill -9 of the sandbox's fs process; the server must notice on its own. Returns
    the sandbox as GetSandbox then answers."""
    [fs_pid] = fs_processes(server, sandbox_id)
    os.kill(fs_pid, 9)
    # Right after its death (the dead mount, or the sandbox already torn down): the file
    # APIs answered 500 INTERNAL "Transport endpoint is not connected".
    expect_not_running(lambda: server.sandboxes.ListSandboxFiles(
        sb.ListSandboxFilesRequest(sandbox_id=sandbox_id, path="/")))
    get = sb.GetSandboxRequest(sandbox_id=sandbox_id)
    wait_for(lambda: server.sandboxes.GetSandbox(get).status == common.SANDBOX_STATUS_ERROR, 10)
    # Reaped (no zombie left), its dead mount detached.
    assert not Path(f"/proc/{fs_pid}").exists(), "the dead fs process was not reaped"
    assert sandbox_mounts(sandbox_id) == []
    return server.sandboxes.GetSandbox(get)


def test_a_dead_fs_process_is_noticed_and_its_sandbox_torn_down(srv):
    """An fs process that died (here: killed) left its sandbox reported RUNNING forever:
    the fs an unreaped zombie, its dead FUSE mount and the sandbox's bwrap helpers and
    sessions alive, the file APIs answering INTERNAL. Now the server notices at once,
    tears the sandbox down as a stop would, reports it ERROR with what happened, and a
    start (directly, or after a stop) brings it back with its writes kept."""
    codebase_id = make_codebase(srv, files={"a.txt": b"1\n", "output/keep": b""})
    before = set(descendants(srv.proc.pid))
    sandbox_id = make_sandbox(srv, codebase_id, sync_mode=common.SYNC_MODE_MANUAL)
    try:
        session = srv.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox_id))
        run(srv, sandbox_id, "echo kept > output/p.txt")
        own = set(descendants(srv.proc.pid)) - before  # fs, bwrap helpers, the session
        assert len(own) > 1
        s = kill_fs_and_wait_for_error(srv, sandbox_id)
        assert s.error_message == "filesystem process exited (signal 9)"
        wait_for(lambda: not [p for p in own if running(p)], 10)
        got = srv.sandboxes.GetSession(sb.GetSessionRequest(session_id=session.id))
        assert got.status == common.SESSION_STATUS_CLOSED
        failed = [json.loads(e.line) for e in srv.sandboxes.GetAuditEvents(
            sb.GetAuditEventsRequest(sandbox_id=sandbox_id, op="sandbox_failed"))]
        assert [(e["error"], e["outcome"]) for e in failed] == [
            ("filesystem process exited (signal 9)", "denied")], failed
        expect_not_running(lambda: run(srv, sandbox_id, "true"))
        expect_not_running(lambda: srv.sandboxes.ReadSandboxFile(
            sb.ReadSandboxFileRequest(sandbox_id=sandbox_id, path="/a.txt")))
        # The write layer is intact and reviewable offline.
        changes = srv.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox_id))
        assert [c.path for c in changes.changes] == ["/output/p.txt"]
        # Started again directly...
        srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
        s = srv.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
        assert s.status == common.SANDBOX_STATUS_RUNNING and not s.error_message
        assert run(srv, sandbox_id, "cat output/p.txt").stdout == "kept\n"
        # ...or after a stop.
        kill_fs_and_wait_for_error(srv, sandbox_id)
        srv.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
        srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
        assert run(srv, sandbox_id, "cat output/p.txt").stdout == "kept\n"
    finally:
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
