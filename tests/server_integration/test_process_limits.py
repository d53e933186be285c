"""A server sandbox gets the server's process and memory limits when its request sets
none, and may not ask for more (sandbox.pids_limit, sandbox.memory_bytes). Without them
a tenant's command ran 1,100 processes and a request for 1 PiB of memory was accepted."""

from __future__ import annotations

import os

import grpc
import pytest

from conftest import make_codebase, make_sandbox, run
from server_harness import common, sb


def test_defaults_apply_and_larger_requests_are_refused(server):
    codebase = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase)
    try:
        info = server.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
        assert info.resources.pids_limit == 1024
        assert info.resources.memory_bytes == 4 << 30
        r = run(server, sandbox_id, "for i in $(seq 1100); do sleep 30 & done; wait",
                timeout={"seconds": 60})
        assert r.pids_limit_reached, r
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    for field, value, key in (("memory_bytes", 1 << 50, "sandbox.memory_bytes"),
                              ("pids_limit", 100_000, "sandbox.pids_limit")):
        with pytest.raises(grpc.RpcError) as e:
            server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
                codebase_id=codebase, resources=common.ResourceLimits(**{field: value})))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
        assert key in e.value.details(), e.value.details()


def sandbox_cgroups(server_pid: int) -> list[str]:
    """The sandbox cgroups this server made (sandbox-<pid>-<n>), in any hierarchy."""
    found = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(root, d) for d in dirs if d.startswith(f"sandbox-{server_pid}-")]
        dirs[:] = [d for d in dirs if not d.startswith(("exec-", "sandbox-"))]
    return found


def test_limits_bound_the_whole_sandbox_not_each_session(server):
    # Each session and command had a cgroup with the full limits of its own: a session's
    # background jobs outlive its call, so 16 sessions held 16 x 1,024 processes (attack
    # sweep L, B5). Now every one of them sits in one cgroup of the sandbox's.
    codebase = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase, resources=common.ResourceLimits(pids_limit=128))
    try:
        sessions = [server.sandboxes.CreateSession(
            sb.CreateSessionRequest(sandbox_id=sandbox_id)).id for _ in range(2)]
        for session_id in sessions:
            r = server.sandboxes.SessionExec(sb.SessionExecRequest(
                session_id=session_id, command="for i in {1..40}; do sleep 300 & done; echo ok"))
            assert r.stdout == "ok\n" and not r.pids_limit_reached, r
        # 80 sleeping jobs and two shells are in the sandbox: a command gets the rest (a
        # dot per job started), where its own cgroup alone would let it start all 60.
        r = run(server, sandbox_id, "i=0; while [ $i -lt 60 ]; do sleep 300 & printf .; "
                "i=$((i+1)); done; echo done", timeout={"seconds": 60})
        assert r.pids_limit_reached, r
        assert 0 < r.stdout.count(".") < 50, r
        assert sandbox_cgroups(server.proc.pid), "no sandbox cgroup"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    assert sandbox_cgroups(server.proc.pid) == []


@pytest.mark.parametrize("field, value, words", [
    ("cpu_shares", 1, "outside 2 to 262144"),
    ("cpu_shares", 10**12, "outside 2 to 262144"),
    ("cpu_quota", 10**15, "CPUs"),
    ("pids_limit", 3, "below 8"),
])
def test_limits_no_start_could_honour_are_refused_at_create(server, field, value, words):
    # They were accepted, then failed every start or exec as INTERNAL, or as
    # RUNTIME_UNAVAILABLE (which clients retry) under Docker (attack sweep F2).
    codebase = make_codebase(server)
    with pytest.raises(grpc.RpcError) as e:
        server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
            codebase_id=codebase, resources=common.ResourceLimits(**{field: value})))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
    assert f"resources.{field}" in e.value.details() and words in e.value.details()


def test_huge_durations_are_not_wrapped_around(server):
    # A timeout of 18446744074 s ran as 0.29 s, and an expiry 9e9 s ahead fell in the year
    # -272: the sandbox was reaped at once (attack sweep F1).
    codebase = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase)
    try:
        for seconds in (18_446_744_074, 315_576_000_000):
            with pytest.raises(grpc.RpcError) as e:
                run(server, sandbox_id, "true", timeout={"seconds": seconds})
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
            assert "exceeds runtime.max_timeout" in e.value.details()
        # Negative nanoseconds are negative; a timeout under a millisecond is honoured,
        # not taken for "none given" (the default 5 minutes).
        with pytest.raises(grpc.RpcError) as e:
            run(server, sandbox_id, "true", timeout={"seconds": 0, "nanos": -5})
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            run(server, sandbox_id, "sleep 5", timeout={"nanos": 1})
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.value.details()
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    for seconds in (9_000_000_000, 315_576_000_000):
        with pytest.raises(grpc.RpcError) as e:
            server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
                codebase_id=codebase, expires_in={"seconds": seconds}))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
        assert "at most 100 years" in e.value.details()
    far = server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
        codebase_id=codebase, expires_in={"seconds": 50 * 365 * 86400}))
    try:
        assert far.expires_at.seconds > far.created_at.seconds + 49 * 365 * 86400
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=far.id))
