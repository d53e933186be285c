"""Restart with persisted state; kill -9 and restart with nothing leaked; config errors;
shutdown with REST calls in flight."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import grpc
import pytest
import requests
from google.protobuf.duration_pb2 import Duration

from conftest import make_codebase, make_sandbox, run
from server_harness import (Server, agentfense_bin, common, descendants, mounts_under, reason_of,
                            rule, running, sb)


@pytest.fixture
def data_dir():
    d = tempfile.mkdtemp(prefix="af-restart-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_restart_keeps_everything_and_reports_stopped(data_dir):
    srv = Server(data_dir).start()
    codebase_id = make_codebase(srv, files={"a.txt": b"1\n", "output/keep": b""})
    sandbox_id = make_sandbox(srv, codebase_id, sync_mode=common.SYNC_MODE_MANUAL)
    run(srv, sandbox_id, "echo pending > output/p.txt")
    assert srv.stop() == 0
    srv.start()
    try:
        s = srv.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
        assert s.status == common.SANDBOX_STATUS_STOPPED and s.error_message
        changes = srv.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox_id))
        assert [c.path for c in changes.changes] == ["/output/p.txt"]
        srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
        assert run(srv, sandbox_id, "cat output/p.txt a.txt").stdout == "pending\n1\n"
    finally:
        assert srv.stop() == 0


def test_kill_9_then_restart_leaks_nothing(data_dir):
    srv = Server(data_dir).start()
    codebase_id = make_codebase(srv, files={"a.txt": b"1\n"})
    ids = [make_sandbox(srv, codebase_id) for _ in range(3)]
    session = srv.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=ids[0]))
    srv.sandboxes.SessionExec(sb.SessionExecRequest(session_id=session.id, command="sleep 900 &"))
    kids = descendants(srv.proc.pid)
    assert kids, "a running sandbox has an fs process"
    srv.kill()
    srv.assert_nothing_left(kids)  # the fs processes and shells die with the server
    srv.start()
    try:
        assert mounts_under(data_dir) == [], "restart must sweep a crashed server's mounts"
        for sandbox_id in ids:
            s = srv.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
            assert s.status == common.SANDBOX_STATUS_STOPPED
        got = srv.sandboxes.GetSession(sb.GetSessionRequest(session_id=session.id))
        assert got.status == common.SESSION_STATUS_CLOSED
        srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=ids[1]))
        assert run(srv, ids[1], "cat a.txt").stdout == "1\n"
    finally:
        assert srv.stop() == 0
    run_dir = os.path.join(data_dir, "run")  # storage.mount_path under a custom data dir
    assert os.path.isdir(run_dir) and os.listdir(run_dir) == [], "stopped sandboxes leave no run dir"


def _fs_processes(server_pid: int) -> list[int]:
    found = []
    for pid in descendants(server_pid):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1:2] == [b"mount"]:
                found.append(pid)
        except OSError:
            pass
    return found


def test_kill_9_during_a_commit_ends_the_fs_before_the_restart_serves(data_dir):
    """An fs process committing when the server was killed finished its commit on its
    own, orphaned, while the restarted server already served the codebase (commits are
    serialized per codebase by the server only), and StartSandbox of its sandbox answered
    INTERNAL. Recovery now lets it finish and waits until it is gone before the server
    listens: nothing changes in the codebase after the restart, no commit leftovers, and
    the sandbox starts."""
    srv = Server(data_dir).start()
    files = 3000  # the orphan finishes its commit while the restart waits: keep it short
    codebase_id = make_codebase(srv, files={"a.txt": b"1\n"})
    sandbox_id = make_sandbox(srv, codebase_id, [rule("**", "write")],
                              sync_mode=common.SYNC_MODE_MANUAL)
    run(srv, sandbox_id, f"mkdir d && for i in $(seq {files}); do echo $i > d/f$i; done",
        timeout=Duration(seconds=300))
    fs = _fs_processes(srv.proc.pid)
    assert len(fs) == 1
    committing = threading.Thread(target=lambda: _ignore_errors(
        lambda: srv.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))))
    committing.start()
    landed = Path(data_dir, "codebases", codebase_id, "d")
    deadline = time.monotonic() + 60
    while not (landed.is_dir() and len(os.listdir(landed)) > 100):
        assert time.monotonic() < deadline, "the commit never started"
        time.sleep(0.002)
    srv.kill()
    committing.join()
    srv.start()
    try:
        assert not [p for p in fs if running(p)], "an fs process outlived the restart"
        assert "server.orphaned_fs_ended" in srv.read_log()
        at_start = sorted(os.listdir(landed))
        time.sleep(1)
        assert sorted(os.listdir(landed)) == at_start, "something still commits"
        srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
        srv.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))
        assert sorted(os.listdir(landed)) == sorted(f"f{i}" for i in range(1, files + 1))
        assert run(srv, sandbox_id, f"cat d/f{files}").stdout == f"{files}\n"
    finally:
        assert srv.stop() == 0


def _ignore_errors(call) -> None:
    try:
        call()
    except grpc.RpcError:
        pass  # the server was killed under it


def test_shutdown_ends_rest_follows_and_execs_in_flight(data_dir):
    """One open REST `audit?follow=true`, or a REST exec of `sleep 300`, kept the server
    running after SIGTERM for as long as its client stayed (still up after 120 s; gRPC
    calls end within 5 s); its sandboxes were not stopped meanwhile either."""
    srv = Server(data_dir).start()
    sandbox_id = make_sandbox(srv, make_codebase(srv))
    follow = requests.get(f"{srv.http}/v1/sandboxes/{sandbox_id}/audit",
                          params={"follow": "true"}, stream=True, timeout=60)
    assert follow.status_code == 200
    seconds = f"300.{uuid.uuid4().int % 10**9:09d}"
    answered = {}

    def long_exec():
        r = requests.post(f"{srv.http}/v1/sandboxes/{sandbox_id}/exec",
                          json={"command": f"sleep {seconds}; echo done"}, timeout=60)
        answered["exec"] = r.text

    caller = threading.Thread(target=long_exec)
    caller.start()
    deadline = time.time() + 10
    while not _sleeping(seconds) and time.time() < deadline:
        time.sleep(0.05)
    assert _sleeping(seconds), "the exec never started"
    started = time.time()
    assert srv.stop() == 0
    assert time.time() - started < 15, time.time() - started
    caller.join(timeout=10)
    assert "done" not in answered["exec"], answered  # killed, as when a client goes away
    assert not _sleeping(seconds)
    list(follow.iter_lines())  # the follow ended with the server
    stopped = [e for e in _trail(data_dir, sandbox_id) if e["op"] == "sandbox_stopped"]
    assert stopped and stopped[-1]["why"] == "server shutdown", stopped


def _trail(data_dir: str, sandbox_id: str) -> list[dict]:
    with open(os.path.join(data_dir, "audit", f"{sandbox_id}.jsonl")) as f:
        return [json.loads(line) for line in f]


def _sleeping(seconds: str) -> bool:
    """A host process runs exactly `sleep <seconds>`."""
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read().split(b"\0")[:-1] == [b"sleep", seconds.encode()]:
                    return True
        except OSError:
            continue
    return False


@pytest.mark.parametrize("config, message", [
    ("sandbox:\n  max_per_usr: 3\n", "max_per_usr"),
    ("runtime:\n  default_timeout: 5x\n", "default_timeout"),
    ("runtime:\n  type: podman\n", "podman"),
])
def test_bad_config_stops_startup_with_a_clear_message(data_dir, config, message):
    path = os.path.join(data_dir, "bad.yaml")
    with open(path, "w") as f:
        f.write(config)
    r = subprocess.run([agentfense_bin(), "server", "--config", path, "--data-dir", data_dir],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_second_server_on_a_live_data_dir_is_refused(data_dir):
    """A second server over the data directory of a live one ran start-up recovery over
    it: the live server's running sandbox was marked STOPPED and its mount swept. Now the
    second one exits at once naming the first one's pid, and the first one's sandbox runs
    on untouched."""
    srv = Server(data_dir).start()
    try:
        sandbox_id = make_sandbox(srv, make_codebase(srv, files={"a.txt": b"1\n"}))
        mounts = mounts_under(data_dir)
        assert mounts
        r = subprocess.run([agentfense_bin(), "server", "--grpc-addr", "127.0.0.1:0",
                            "--http-addr", "127.0.0.1:0", "--data-dir", data_dir],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert f"in use by another agentfense server (pid {srv.proc.pid})" in r.stderr, r.stderr
        s = srv.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
        assert s.status == common.SANDBOX_STATUS_RUNNING, s.error_message
        assert mounts_under(data_dir) == mounts
        assert run(srv, sandbox_id, "cat a.txt").stdout == "1\n"
    finally:
        assert srv.stop() == 0
    # The lock goes with its holder: the next server over the same directory starts.
    srv.start()
    assert srv.stop() == 0


def test_unknown_sandbox_lookup_after_restart(data_dir):
    srv = Server(data_dir).start()
    try:
        with pytest.raises(grpc.RpcError) as e:
            srv.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id="sb_nope"))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        assert srv.stop() == 0


def test_runtime_type_config_is_the_default_runtime(data_dir, tmp_path):
    # A dockerd that is not there: a clear UNAVAILABLE naming its socket, at once.
    socket = tmp_path / "no-dockerd.sock"
    srv = Server(data_dir, config=f"runtime:\n  type: docker\n  docker:\n    host: unix://{socket}\n").start()
    try:
        codebase_id = make_codebase(srv, files={"a.txt": b"1\n"})
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            make_sandbox(srv, codebase_id, start=False)  # runtime unspecified -> docker
        assert time.monotonic() - started < 10
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert reason_of(e.value) == "RUNTIME_UNAVAILABLE"
        assert str(socket) in e.value.details()
        sandbox_id = make_sandbox(srv, codebase_id, runtime=common.RUNTIME_TYPE_BWRAP)
        assert run(srv, sandbox_id, "cat a.txt").stdout == "1\n"
    finally:
        assert srv.stop() == 0
