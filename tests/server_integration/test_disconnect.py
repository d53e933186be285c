"""Issue 9 item 6: a client that goes away takes its command with it.

Each test starts a long command (`sleep 178`, as the issue's attack), waits until the
host really runs it, then disconnects the way a client does (curl killed by `timeout`,
a gRPC deadline, a cancelled call, a closed channel) and asserts that the command's
process is gone from the host within 2 s, that its half-done writes were not synced to
the codebase (as when a sandbox is stopped mid-command), and that the sandbox (and a
session, with its state) keeps working."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid

import grpc
import pytest
import requests
from google.protobuf.duration_pb2 import Duration

from conftest import download, make_sandbox, run
from server_harness import sb

GONE_WITHIN = 2.0  # seconds from the disconnect until the process must be gone


def sleepers(seconds: str) -> list[int]:
    """Host pids running exactly `sleep <seconds>` (not curl or bwrap quoting it)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")[:-1]
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"sleep" and argv[1:] == [seconds.encode()]:
            found.append(int(entry))
    return found


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def unique_seconds() -> str:
    """A `sleep` argument no other test (or run) uses: 178.<random>."""
    return f"178.{uuid.uuid4().int % 10**9:09d}"


def assert_killed_after_disconnect(seconds: str, disconnected_at: float) -> None:
    deadline = disconnected_at + GONE_WITHIN
    while time.time() < deadline:
        if not sleepers(seconds):
            return
        time.sleep(0.02)
    raise AssertionError(
        f"`sleep {seconds}` still runs {GONE_WITHIN}s after its client went away: "
        f"pids {sleepers(seconds)}")


def assert_not_synced(server, codebase: str, path: str) -> None:
    with pytest.raises(grpc.RpcError) as e:
        download(server, codebase, path)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND, "a cancelled command's write was synced"


@pytest.fixture
def sandbox(server, codebase):
    sandbox_id = make_sandbox(server, codebase)
    yield sandbox_id
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


@pytest.fixture
def session(server, sandbox):
    created = server.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox))
    # State the session must keep across the cancelled command.
    server.sandboxes.SessionExec(sb.SessionExecRequest(
        session_id=created.id, command="cd /workspace/docs && export KEPT=yes"))
    return created.id


def assert_session_usable(server, session_id: str) -> None:
    r = server.sandboxes.SessionExec(sb.SessionExecRequest(
        session_id=session_id, command="pwd; echo $KEPT", timeout=Duration(seconds=30)))
    assert r.stdout == "/workspace/docs\nyes\n" and r.exit_code == 0, r


# ---- REST: the curl attack, and its streaming / session variants ----

def curl_disconnect(url: str, body: str, seconds: str) -> float:
    """`timeout 3 curl URL -d BODY`; returns when curl was killed."""
    if sleepers(seconds):
        raise AssertionError(f"`sleep {seconds}` already runs before the test")
    curl = subprocess.Popen(["timeout", "3", "curl", "-s", "-N", url, "-d", body],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: sleepers(seconds), 2.5, f"`sleep {seconds}` to start on the host")
    finally:
        curl.wait(timeout=10)
    assert curl.returncode == 124, "curl was meant to be killed by timeout"
    return time.time()


def test_rest_exec_attack_as_written(server, codebase, sandbox):
    """`timeout 3 curl .../exec -d '{"command":"sleep 178"}'` leaves nothing running."""
    url = f"{server.http}/v1/sandboxes/{sandbox}/exec"
    at = curl_disconnect(url, '{"command":"echo partial > output/rest.txt; sleep 178"}', "178")
    assert_killed_after_disconnect("178", at)
    assert_not_synced(server, codebase, "output/rest.txt")
    assert run(server, sandbox, "echo next").stdout == "next\n"


@pytest.mark.parametrize("first_output", ["", "echo started; "], ids=["silent", "after-output"])
def test_rest_exec_stream_disconnect(server, codebase, sandbox, first_output):
    seconds = unique_seconds()
    url = f"{server.http}/v1/sandboxes/{sandbox}/exec:stream"
    command = f"{first_output}echo partial > output/stream.txt; sleep {seconds}"
    at = curl_disconnect(url, f'{{"command":"{command}"}}', seconds)
    assert_killed_after_disconnect(seconds, at)
    assert_not_synced(server, codebase, "output/stream.txt")
    assert run(server, sandbox, "echo next").stdout == "next\n"


@pytest.mark.parametrize("route", ["exec", "exec:stream"])
def test_rest_session_exec_disconnect_keeps_session(server, codebase, session, route):
    seconds = unique_seconds()
    url = f"{server.http}/v1/sessions/{session}/{route}"
    command = f"echo partial > /workspace/output/session.txt; sleep {seconds}; export KEPT=no"
    at = curl_disconnect(url, f'{{"command":"{command}"}}', seconds)
    assert_killed_after_disconnect(seconds, at)
    assert_not_synced(server, codebase, "output/session.txt")
    assert_session_usable(server, session)


def test_rest_client_closing_socket_mid_request(server, sandbox):
    """A client that just closes its socket (no timeout tool) is noticed too."""
    seconds = unique_seconds()
    thread = threading.Thread(target=lambda: _post_and_drop(
        f"{server.http}/v1/sandboxes/{sandbox}/exec", {"command": f"sleep {seconds}"}))
    thread.start()
    wait_until(lambda: sleepers(seconds), 5, "the command to start")
    thread.join(timeout=10)
    assert_killed_after_disconnect(seconds, time.time())


def _post_and_drop(url: str, body: dict) -> None:
    try:
        requests.post(url, json=body, timeout=1.5)
    except requests.exceptions.ReadTimeout:
        pass  # requests closes the connection here


# ---- gRPC: deadline, cancel, closed channel, for all four exec RPCs ----

def _exec_call(stub, kind: str, target: str, command: str, **kw):
    """Starts the RPC without waiting: returns something with .cancel()."""
    if kind == "Exec":
        return stub.Exec.future(sb.ExecRequest(sandbox_id=target, command=command), **kw)
    if kind == "ExecStream":
        return stub.ExecStream(sb.ExecRequest(sandbox_id=target, command=command), **kw)
    if kind == "SessionExec":
        return stub.SessionExec.future(
            sb.SessionExecRequest(session_id=target, command=command), **kw)
    return stub.SessionExecStream(sb.SessionExecRequest(session_id=target, command=command), **kw)


def _drain(call) -> None:
    try:
        if hasattr(call, "result"):
            call.result()
        else:
            for _ in call:
                pass
    except (grpc.RpcError, grpc.FutureCancelledError):
        pass


@pytest.mark.parametrize("how", ["deadline", "cancel", "channel-closed"])
@pytest.mark.parametrize("kind", ["Exec", "ExecStream", "SessionExec", "SessionExecStream"])
def test_grpc_cancellation_kills_the_command(server, codebase, sandbox, session, kind, how):
    seconds = unique_seconds()
    is_session = kind.startswith("Session")
    target = session if is_session else sandbox
    where = "/workspace/output/g.txt" if is_session else "output/g.txt"
    command = f"echo started; echo partial > {where}; sleep {seconds}; export KEPT=no"
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    stub = sb_stub(channel)
    kw = {"timeout": 1.5} if how == "deadline" else {}
    call = _exec_call(stub, kind, target, command, **kw)
    drained = threading.Thread(target=_drain, args=(call,))
    drained.start()
    try:
        wait_until(lambda: sleepers(seconds), 5, f"`sleep {seconds}` to start on the host")
        if how == "cancel":
            call.cancel()
            at = time.time()
        elif how == "channel-closed":
            channel.close()
            at = time.time()
        else:
            drained.join(timeout=10)
            at = time.time()
        assert_killed_after_disconnect(seconds, at)
    finally:
        channel.close()
        drained.join(timeout=10)
    assert_not_synced(server, codebase, "output/g.txt")
    if is_session:
        assert_session_usable(server, session)
    else:
        assert run(server, sandbox, "echo next").stdout == "next\n"


def sb_stub(channel):
    from server_harness import sb_grpc
    return sb_grpc.SandboxServiceStub(channel)


def test_stopping_the_sandbox_still_aborts_its_commands(server, codebase):
    """The stop path (sandbox stopped mid-command) keeps working next to client cancels."""
    sandbox_id = make_sandbox(server, codebase)
    seconds = unique_seconds()
    call = server.sandboxes.Exec.future(sb.ExecRequest(sandbox_id=sandbox_id,
                                                       command=f"sleep {seconds}"))
    wait_until(lambda: sleepers(seconds), 5, "the command to start")
    server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
    with pytest.raises(grpc.RpcError) as e:
        call.result(timeout=10)
    assert e.value.code() == grpc.StatusCode.ABORTED
    assert not sleepers(seconds)
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
