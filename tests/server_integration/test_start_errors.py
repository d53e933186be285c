"""A sandbox that fails to start tells its caller what kind of failure it was and an id
to quote, never the server's own paths (they went out as "open id lease
/run/agentfense/ids/...: Too many open files" in the reply, the sandbox's
error_message and its audit trail). The server log keeps the whole error."""

from __future__ import annotations

import os
import shutil

import grpc
import pytest

from conftest import make_codebase, make_sandbox
from server_harness import sb


def test_a_failed_start_names_no_server_path(server):
    codebase = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase, start=False)
    state = os.path.join(server.data_dir, "sandboxes", sandbox_id, "state")
    shutil.rmtree(state, ignore_errors=True)
    os.makedirs(os.path.dirname(state), exist_ok=True)
    with open(state, "w") as f:  # where the start must make its state directory
        f.write("in the way")
    try:
        with pytest.raises(grpc.RpcError) as e:
            server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
        assert e.value.code() == grpc.StatusCode.INTERNAL, e.value.details()
        assert "err_" in e.value.details() and server.data_dir not in e.value.details()
        info = server.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
        assert info.error_message.startswith("start failed: internal error")
        assert server.data_dir not in info.error_message
        error_id = e.value.details().split("(")[-1].split()[0]
        assert error_id in server.read_log() and state in server.read_log()
    finally:
        os.remove(state)
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
