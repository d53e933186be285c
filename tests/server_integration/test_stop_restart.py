"""Stopping a sandbox while a command still runs in it (a one-shot exec or a session's)
must end that command and the sandbox's fs process before StopSandbox returns. Before,
the fs process lived on until the command let go of the sandbox, so a StartSandbox right
after put a second fs process on the same write layer: two writers on one journal (the
fs now also refuses that outright: tests/integration/test_state_lock.py)."""

from __future__ import annotations

import fcntl
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from conftest import download, make_codebase, make_sandbox, run
from server_harness import Server, common, descendants, reason_of, rule, sb, serving

LONG = "sleep 47"  # a command line no other test runs


@pytest.fixture(scope="module")
def srv():
    yield from serving("af-stop-")


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:  # gone meanwhile
        return []


def fs_processes(server: Server, sandbox_id: str) -> list[int]:
    """The server's fs processes (`agentfense mount`) serving this sandbox."""
    return [pid for pid in descendants(server.proc.pid)
            if cmdline(pid)[1:2] == ["mount"] and any(sandbox_id in a for a in cmdline(pid))]


def long_commands(server: Server) -> list[int]:
    return [pid for pid in descendants(server.proc.pid) if " ".join(cmdline(pid)).startswith(LONG)]


def wait_for(predicate, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


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
    # Let go: the layer is the sandbox's again, with its change intact.
    changes = srv.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox_id))
    assert [c.path for c in changes.changes] == ["/a.txt"]
    result = srv.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))
    assert list(result.applied) == ["/a.txt"] and download(srv, codebase, "a.txt") == b"2\n"
    srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_a_dead_fs_process_is_named_as_such_and_a_restart_recovers(srv):
    """An fs process that died (here: killed) made every call answer INTERNAL with the
    path of its control socket, the server's data layout; now the caller learns what
    happened and what to do, and stop + start brings the sandbox back, its writes kept."""
    codebase_id = make_codebase(srv, files={"a.txt": b"1\n", "output/keep": b""})
    sandbox_id = make_sandbox(srv, codebase_id, sync_mode=common.SYNC_MODE_MANUAL)
    try:
        run(srv, sandbox_id, "echo kept > output/p.txt")
        [fs_pid] = fs_processes(srv, sandbox_id)
        os.kill(fs_pid, 9)
        with pytest.raises(grpc.RpcError) as e:
            srv.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox_id))
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
        assert reason_of(e.value) == "SANDBOX_NOT_RUNNING"
        assert "filesystem process is not answering" in e.value.details()
        assert srv.data_dir not in e.value.details() and "control.sock" not in e.value.details()
        srv.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
        srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
        assert run(srv, sandbox_id, "cat output/p.txt").stdout == "kept\n"
    finally:
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
