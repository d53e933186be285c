"""audit.max_bytes is fair between owners (docs/audit.md "On the server"): the trails of
sandboxes that still exist neither count toward it nor are removed, and over the
budget the owner holding the most bytes of destroyed sandboxes' trails loses its
oldest first. One tenant's big trails never cost another tenant its record."""

from __future__ import annotations

import time

import grpc
import pytest

from server_harness import AGENT_SAFE, cb, sb, upload
from tenants import start_tenant_server

LONG_COMMAND = "true #" + "x" * 40000  # ~40 KB of trail per exec


@pytest.fixture(scope="module")
def tenants():
    started = start_tenant_server(
        {"alice": {"owners": ["team-a"]}, "bob": {"owners": ["team-b"]}, "admin": {"role": "admin"}},
        extra_config="audit:\n  max_bytes: 64KiB\nsandbox:\n  cleanup_interval: 1s\n")
    yield started
    started.stop()


def running_sandbox(client) -> str:
    codebase = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="c"))
    upload(client, codebase.id, "README.md", b"# c\n")
    sandbox = client.sandboxes.CreateSandbox(
        sb.CreateSandboxRequest(codebase_id=codebase.id, permissions=AGENT_SAFE))
    client.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox.id))
    return sandbox.id


def exec_(client, sandbox: str, command: str, times: int = 1) -> None:
    for _ in range(times):
        client.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox, command=command))


def destroy(client, sandbox: str) -> None:
    client.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def trail_kept(client, sandbox: str) -> bool:
    try:
        list(client.sandboxes.GetAuditEvents(sb.GetAuditEventsRequest(sandbox_id=sandbox)))
        return True
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND, error.details()
        return False


def test_one_tenants_trails_never_cost_another_its_record(tenants):
    bob, alice = tenants.client("bob"), tenants.client("alice")
    live = running_sandbox(bob)
    exec_(bob, live, LONG_COMMAND, times=3)  # ~120 KB, over the budget, still running

    alices = running_sandbox(alice)
    exec_(alice, alices, "cat README.md")
    destroy(alice, alices)
    time.sleep(3)  # a few retention passes (sandbox.cleanup_interval: 1s)
    assert trail_kept(alice, alices), "bob's running sandbox's trail cost alice hers"

    # Over the budget with destroyed trails: the owner holding the most of them (bob)
    # loses his oldest; alice's small trail stays.
    bobs = running_sandbox(bob)
    exec_(bob, bobs, LONG_COMMAND, times=2)
    destroy(bob, bobs)
    deadline = time.monotonic() + 10
    while trail_kept(bob, bobs):
        assert time.monotonic() < deadline, "max_bytes never removed bob's destroyed trail"
        time.sleep(0.2)
    assert trail_kept(alice, alices)
    assert trail_kept(bob, live)  # its sandbox still exists
    destroy(bob, live)
