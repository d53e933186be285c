"""A server sandbox gets the server's process and memory limits when its request sets
none, and may not ask for more (sandbox.pids_limit, sandbox.memory_bytes). Without them
a tenant's command ran 1,100 processes and a request for 1 PiB of memory was accepted."""

from __future__ import annotations

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
