"""A key revoked with `agentfense server keys revoke` also ends the calls it already has
open (docs/security.md "Shared server"): audit follow streams over gRPC and REST end
with UNAUTHENTICATED, and a running ExecStream ends the same way with its command
killed, within about a second, instead of serving the revoked caller until the
sandbox or the command ends."""

from __future__ import annotations

import json
import threading
import time
import uuid

import grpc
import pytest

from server_harness import AGENT_SAFE, cb, reason_of, sb, upload
from tenants import add_key, keys_cli, start_tenant_server

# "Within a second" on an idle machine; the margin is for a loaded one.
ENDS_WITHIN = 3.0


@pytest.fixture(scope="module")
def tenants():
    started = start_tenant_server({"admin": {"role": "admin"}})
    yield started
    started.stop()


@pytest.fixture
def caller(tenants):
    """A fresh principal (its own key, accepted by the server) with a running sandbox;
    yields (client, key, sandbox_id). The admin destroys the sandbox afterwards, which
    also ends any stream a failing test left open."""
    key = add_key(tenants.keys_file, f"dave-{uuid.uuid4().hex[:8]}", ["team-d"])
    client = tenants.server.client(key)
    deadline = time.monotonic() + 5
    while True:  # the keys file is re-read within a second
        try:
            made = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="d"))
            break
        except grpc.RpcError:
            assert time.monotonic() < deadline, "the new key was never accepted"
            time.sleep(0.05)
    upload(client, made.id, "README.md", b"# d\n")
    upload(client, made.id, "output/keep", b"")
    sandbox = client.sandboxes.CreateSandbox(
        sb.CreateSandboxRequest(codebase_id=made.id, permissions=AGENT_SAFE))
    client.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox.id))
    yield client, key, sandbox.id
    admin = tenants.server
    admin.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox.id))
    admin.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=made.id))
    client.close()


def in_thread(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def revoke(tenants, key: str) -> float:
    keys_cli(tenants.keys_file, "revoke", key[:12])
    return time.monotonic()


def test_revocation_ends_open_audit_follow_streams(tenants, caller):
    client, key, sandbox = caller
    grpc_end: dict = {}
    rest_lines: list[bytes] = []
    started = threading.Barrier(3, timeout=10)

    def follow_grpc():
        stream = client.sandboxes.GetAuditEvents(
            sb.GetAuditEventsRequest(sandbox_id=sandbox, follow=True))
        try:
            for n, _ in enumerate(stream):
                if n == 0:
                    started.wait()
            grpc_end["code"] = "OK"
        except grpc.RpcError as error:
            grpc_end.update(code=error.code(), reason=reason_of(error), details=error.details())
        grpc_end["at"] = time.monotonic()

    def follow_rest():
        url = f"{client.url}/v1/sandboxes/{sandbox}/audit"
        with client.http.get(url, params={"follow": "true"}, stream=True, timeout=30) as answer:
            for line in answer.iter_lines():
                rest_lines.append(line)
                if len(rest_lines) == 1:
                    started.wait()

    threads = [in_thread(follow_grpc), in_thread(follow_rest)]
    started.wait()
    revoked = revoke(tenants, key)
    for thread in threads:
        thread.join(timeout=ENDS_WITHIN + 2)
    assert not any(t.is_alive() for t in threads), "a follow stream outlived its revoked key"

    assert grpc_end["code"] == grpc.StatusCode.UNAUTHENTICATED, grpc_end
    assert grpc_end["reason"] == "UNAUTHENTICATED"
    assert "revoked" in grpc_end["details"]
    assert grpc_end["at"] - revoked < ENDS_WITHIN
    # REST: the response had begun, so the refusal is its last NDJSON line.
    last = json.loads(rest_lines[-1])
    assert last["error"]["status"] == "UNAUTHENTICATED", last
    assert "revoked" in last["error"]["message"]


def test_revocation_ends_a_running_exec_stream_and_kills_its_command(tenants, caller):
    client, key, sandbox = caller
    outcome: dict = {}
    first_output = threading.Event()
    command = "i=0; while [ $i -lt 200 ]; do echo $i > output/progress; echo tick; i=$((i+1)); sleep 0.1; done"

    def exec_stream():
        try:
            for _ in client.sandboxes.ExecStream(sb.ExecRequest(sandbox_id=sandbox, command=command)):
                first_output.set()
            outcome["code"] = "OK"
        except grpc.RpcError as error:
            outcome.update(code=error.code(), details=error.details())
        outcome["at"] = time.monotonic()

    thread = in_thread(exec_stream)
    assert first_output.wait(10)
    revoked = revoke(tenants, key)
    thread.join(timeout=ENDS_WITHIN + 2)
    assert not thread.is_alive(), "the exec stream outlived its revoked key"
    assert outcome["code"] == grpc.StatusCode.UNAUTHENTICATED, outcome
    assert "revoked" in outcome["details"]
    assert outcome["at"] - revoked < ENDS_WITHIN

    # The command was killed with the stream: its progress file stops moving.
    def progress() -> bytes:
        return tenants.server.sandboxes.ReadSandboxFile(
            sb.ReadSandboxFileRequest(sandbox_id=sandbox, path="/output/progress")).content
    before = progress()
    time.sleep(1)
    assert progress() == before


def test_an_upload_open_at_revocation_is_not_kept(tenants, caller):
    """An upload stream opened before `keys revoke` completed afterwards and its file
    landed in the codebase."""
    client, key, sandbox = caller
    codebase = tenants.server.sandboxes.GetSandbox(
        sb.GetSandboxRequest(sandbox_id=sandbox)).codebase_id
    go_on = threading.Event()
    outcome: dict = {}

    def chunks():
        yield cb.UploadChunk(metadata=cb.UploadChunk.Metadata(
            codebase_id=codebase, file_path="late.txt", total_size=2))
        yield cb.UploadChunk(data=b"a")
        go_on.wait(30)
        yield cb.UploadChunk(data=b"b")

    def upload_stream():
        try:
            client.codebases.UploadFiles(chunks())
            outcome["code"] = "OK"
        except grpc.RpcError as error:
            outcome.update(code=error.code(), details=error.details())

    thread = in_thread(upload_stream)
    time.sleep(0.5)
    revoke(tenants, key)
    time.sleep(1.5)  # the keys file is re-read within a second
    go_on.set()
    thread.join(timeout=30)
    assert outcome.get("code") == grpc.StatusCode.UNAUTHENTICATED, outcome
    listing = tenants.server.codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase))
    assert "/late.txt" not in {f.path for f in listing.files}


def test_a_download_ends_at_revocation(tenants, caller):
    client, key, sandbox = caller
    codebase = tenants.server.sandboxes.GetSandbox(
        sb.GetSandboxRequest(sandbox_id=sandbox)).codebase_id
    upload(tenants.server, codebase, "big.bin", b"\0" * (32 << 20))
    stream = client.codebases.DownloadFile(cb.DownloadFileRequest(codebase_id=codebase,
                                                                  file_path="big.bin"))
    received = len(next(stream).data)  # the download is open
    revoked = revoke(tenants, key)
    with pytest.raises(grpc.RpcError) as e:
        for chunk in stream:
            received += len(chunk.data)
            time.sleep(0.02)  # a slow reader: the download outlasts the re-read
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED, e.value.details()
    assert time.monotonic() - revoked < ENDS_WITHIN + 2
    assert received < 32 << 20
