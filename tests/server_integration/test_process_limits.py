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
