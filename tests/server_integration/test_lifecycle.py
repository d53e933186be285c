"""Restart with persisted state; kill -9 and restart with nothing leaked; config errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import grpc
import pytest

from conftest import make_codebase, make_sandbox, run
from server_harness import (Server, agentfense_bin, common, descendants, mounts_under, reason_of,
                            sb)


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
