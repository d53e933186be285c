"""Issue 10 item 5: quotas per principal, counted against the authenticated caller (a
codebase, sandbox or session against the principal that created it; commands and
requests against the caller). Each exceeded limit answers RESOURCE_EXHAUSTED / 429
naming the limit, leaves nothing half-created, and frees up again."""

from __future__ import annotations

import concurrent.futures
import io
import tarfile
import time

import grpc
import pytest

from server_harness import AGENT_SAFE, cb, common, descendants, reason_of, sb
from tenants import start_tenant_server


@pytest.fixture(scope="module")
def tenants():
    t = start_tenant_server({
        "admin": {"role": "admin"},
        "few-codebases": {"owners": ["o1"], "quotas": {"codebases": "2"}},
        "few-bytes": {"owners": ["o2"], "quotas": {"stored_bytes": "64KiB"}},
        "small-layers": {"owners": ["o8"], "quotas": {"sandbox_disk_bytes": "64MiB"}},
        "one-running": {"owners": ["o3"], "quotas": {"running_sandboxes": "1"}},
        "one-session": {"owners": ["o4"], "quotas": {"sessions": "1"}},
        "one-exec": {"owners": ["o5"], "quotas": {"concurrent_execs": "1"}},
        "one-follow": {"owners": ["o7"], "quotas": {"concurrent_follows": "1"}},
        "slow": {"owners": ["o6"], "quotas": {"requests_per_second": "5", "request_burst": "5"}},
    })
    yield t
    t.stop()


def assert_over(error: grpc.RpcError, quota: str) -> None:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert reason_of(error) == "QUOTA_EXCEEDED"
    assert quota in error.details(), error.details()


def codebases_of(client) -> list:
    return list(client.codebases.ListCodebases(cb.ListCodebasesRequest()).codebases)


def upload(client, codebase_id: str, path: str, data: bytes):
    def chunks():
        yield cb.UploadChunk(metadata=cb.UploadChunk.Metadata(
            codebase_id=codebase_id, file_path=path, total_size=len(data)))
        yield cb.UploadChunk(data=data)
    return client.codebases.UploadFiles(chunks())


def fs_processes(server_pid: int) -> list[int]:
    """The server's `agentfense mount` children: one per running sandbox. (Counting every
    descendant would count the exec launcher a started sandbox brings up in the
    background, after StartSandbox has answered.)"""
    found = []
    for pid in descendants(server_pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[1] == b"mount":
            found.append(pid)
    return sorted(found)


def started_sandbox(client, codebase_id: str, start: bool = True) -> str:
    sandbox = client.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
        codebase_id=codebase_id, permissions=AGENT_SAFE))
    if start:
        client.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox.id))
    return sandbox.id


def test_codebases(tenants):
    client = tenants.client("few-codebases")
    made = [client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name=f"c{i}")).id
            for i in range(2)]
    with pytest.raises(grpc.RpcError) as e:
        client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="c3"))
    assert_over(e.value, "quotas.codebases")
    r = client.http.post(f"{client.url}/v1/codebases", json={"name": "c3"})
    assert r.status_code == 429 and "quotas.codebases" in r.json()["message"]
    assert sorted(c.id for c in codebases_of(client)) == sorted(made)  # nothing half-made
    client.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=made[0]))
    client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="c3"))  # recovered


def test_stored_bytes(tenants):
    client = tenants.client("few-bytes")
    first = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="b1")).id
    second = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="b2")).id
    upload(client, first, "/a.bin", b"a" * (40 << 10))
    # The quota spans the principal's codebases: 40 KiB + 40 KiB > 64 KiB.
    with pytest.raises(grpc.RpcError) as e:
        upload(client, second, "/b.bin", b"b" * (40 << 10))
    assert_over(e.value, "quotas.stored_bytes of principal few-bytes")
    r = client.http.put(f"{client.url}/v1/codebases/{second}/content/b.bin", data=b"b" * (40 << 10))
    assert r.status_code == 429 and "quotas.stored_bytes" in r.json()["message"]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("c.bin")
        info.size = 40 << 10
        tar.addfile(info, io.BytesIO(b"c" * (40 << 10)))
    r = client.http.post(f"{client.url}/v1/codebases/{second}/archive", data=archive.getvalue())
    assert r.status_code == 429 and "quotas.stored_bytes" in r.json()["message"]
    assert not client.codebases.ListFiles(cb.ListFilesRequest(codebase_id=second)).files
    client.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=first))
    upload(client, second, "/b.bin", b"b" * (40 << 10))  # recovered


def sandbox_with_layer(client, codebase_id: str, disk_bytes: int = 0) -> str:
    return client.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
        codebase_id=codebase_id, permissions=AGENT_SAFE,
        resources=common.ResourceLimits(disk_bytes=disk_bytes))).id


def test_sandbox_disk_bytes(tenants):
    # Stopped sandboxes keep their write layers: a tenant with little stored_bytes held
    # 120 MiB in them. The sum of its sandboxes' write-layer quotas is bounded.
    client = tenants.client("small-layers")
    codebase = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="l")).id
    first = sandbox_with_layer(client, codebase, 32 << 20)
    client.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=first))
    client.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=first))  # still counts
    second = sandbox_with_layer(client, codebase, 32 << 20)  # exactly the quota
    before = {s.id for s in client.sandboxes.ListSandboxes(sb.ListSandboxesRequest()).sandboxes}
    with pytest.raises(grpc.RpcError) as e:
        sandbox_with_layer(client, codebase, 1 << 20)
    assert_over(e.value, "quotas.sandbox_disk_bytes 64MiB")
    assert "already has 64MiB" in e.value.details(), e.value.details()
    # Without a size the server's sandbox.disk_bytes (10 GiB) is asked: more than all.
    r = client.http.post(f"{client.url}/v1/sandboxes", json={
        "codebaseId": codebase, "permissions": [{"pattern": "**", "permission": "read"}]})
    assert r.status_code == 429 and "quotas.sandbox_disk_bytes" in r.json()["message"], r.text
    # A request the service would refuse anyway is told so, not counted.
    with pytest.raises(grpc.RpcError) as e:
        sandbox_with_layer(client, codebase, -1)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value
    after = {s.id for s in client.sandboxes.ListSandboxes(sb.ListSandboxesRequest()).sandboxes}
    assert after == before  # nothing half-created
    client.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=first))
    third = sandbox_with_layer(client, codebase, 32 << 20)  # recovered
    for sandbox in (second, third):
        client.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def test_sandbox_disk_bytes_with_concurrent_creates(tenants):
    # Creates under way count until their sandbox is charged: of six 24 MiB sandboxes
    # created at once under 64 MiB, exactly two exist.
    client = tenants.client("small-layers")
    codebase = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="lc")).id

    def create(_):
        try:
            return sandbox_with_layer(client, codebase, 24 << 20)
        except grpc.RpcError as error:
            assert_over(error, "quotas.sandbox_disk_bytes")
            return None

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        made = [i for i in pool.map(create, range(6)) if i]
    assert len(made) == 2, made
    for sandbox in made:
        client.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def test_running_sandboxes(tenants):
    client = tenants.client("one-running")
    codebase = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="r")).id
    first = started_sandbox(client, codebase)
    second = started_sandbox(client, codebase, start=False)
    mounts = fs_processes(tenants.server.proc.pid)
    with pytest.raises(grpc.RpcError) as e:
        client.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=second))
    assert_over(e.value, "quotas.running_sandboxes")
    r = client.http.post(f"{client.url}/v1/sandboxes/{second}/start")
    assert r.status_code == 429
    status = client.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=second)).status
    assert status == common.SANDBOX_STATUS_PENDING
    assert fs_processes(tenants.server.proc.pid) == mounts  # no mount was started
    # Starting the running one again is no new sandbox: allowed.
    client.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=first))
    client.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=first))
    client.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=second))  # recovered
    for sandbox in (first, second):
        client.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def test_running_sandboxes_with_concurrent_starts(tenants):
    # A start holds the quota lock only for its check (a start may take seconds), and
    # starts under way count: of four started at once, exactly one runs.
    client = tenants.client("one-running")
    codebase = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="c")).id
    ids = [started_sandbox(client, codebase, start=False) for _ in range(4)]

    def start(sandbox_id):
        try:
            client.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
            return "started"
        except grpc.RpcError as error:
            assert_over(error, "quotas.running_sandboxes")
            return "refused"

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(start, ids))
    assert sorted(outcomes) == ["refused"] * 3 + ["started"], outcomes
    statuses = [client.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=i)).status
                for i in ids]
    assert statuses.count(common.SANDBOX_STATUS_RUNNING) == 1, statuses
    for sandbox in ids:
        client.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def test_sessions(tenants):
    client = tenants.client("one-session")
    codebase = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="s")).id
    sandbox = started_sandbox(client, codebase)
    session = client.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox)).id
    with pytest.raises(grpc.RpcError) as e:
        client.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox))
    assert_over(e.value, "quotas.sessions")
    assert client.http.post(f"{client.url}/v1/sandboxes/{sandbox}/sessions", json={}).status_code == 429
    listed = client.sandboxes.ListSessions(sb.ListSessionsRequest(sandbox_id=sandbox)).sessions
    assert [s.id for s in listed] == [session]
    client.sandboxes.DestroySession(sb.DestroySessionRequest(session_id=session))
    client.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox))  # recovered
    client.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def test_concurrent_execs(tenants):
    client = tenants.client("one-exec")
    codebase = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="e")).id
    sandbox = started_sandbox(client, codebase)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(client.sandboxes.Exec, sb.ExecRequest(sandbox_id=sandbox, command="sleep 2"))
        time.sleep(0.7)
        with pytest.raises(grpc.RpcError) as e:
            client.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox, command="true"))
        assert_over(e.value, "quotas.concurrent_execs")
        r = client.http.post(f"{client.url}/v1/sandboxes/{sandbox}/exec", json={"command": "true"})
        assert r.status_code == 429
        assert slow.result().exit_code == 0
    assert client.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox, command="true")).exit_code == 0
    # Another principal is not held back by this one's commands.
    client.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def test_concurrent_follows(tenants):
    """A followed audit trail holds a server thread for as long as the sandbox lives: a
    principal could open them without end (no quota counted them)."""
    client = tenants.client("one-follow")
    codebase = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="f")).id
    sandbox = started_sandbox(client, codebase)
    follow = client.sandboxes.GetAuditEvents(sb.GetAuditEventsRequest(sandbox_id=sandbox,
                                                                      follow=True))
    next(follow)  # the stream is open: its first event arrived
    with pytest.raises(grpc.RpcError) as e:
        next(client.sandboxes.GetAuditEvents(sb.GetAuditEventsRequest(sandbox_id=sandbox,
                                                                      follow=True)))
    assert_over(e.value, "quotas.concurrent_follows")
    r = client.http.get(f"{client.url}/v1/sandboxes/{sandbox}/audit",
                        params={"follow": "true"}, timeout=10)
    assert r.status_code == 429, r.text
    # Reading the trail without following is not counted.
    assert list(client.sandboxes.GetAuditEvents(sb.GetAuditEventsRequest(sandbox_id=sandbox)))
    follow.cancel()
    deadline = time.monotonic() + 10
    while True:  # the slot is freed once the server sees the cancel
        try:
            again = client.sandboxes.GetAuditEvents(sb.GetAuditEventsRequest(sandbox_id=sandbox,
                                                                             follow=True))
            next(again)
            again.cancel()
            break
        except grpc.RpcError as error:
            assert_over(error, "quotas.concurrent_follows")
            assert time.monotonic() < deadline, "the follow slot was never freed"
            time.sleep(0.2)
    client.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def test_request_rate(tenants):
    client = tenants.client("slow")
    outcomes = []
    for _ in range(12):
        try:
            codebases_of(client)
            outcomes.append("ok")
        except grpc.RpcError as error:
            assert_over(error, "quotas.requests_per_second")
            outcomes.append("refused")
    assert outcomes[:5] == ["ok"] * 5 and "refused" in outcomes
    r = client.http.get(f"{client.url}/v1/codebases")
    assert r.status_code == 429 and "requests_per_second" in r.json()["message"]
    # Others are not slowed down by it.
    for _ in range(12):
        codebases_of(tenants.client("admin"))
    time.sleep(1.2)
    codebases_of(client)  # the bucket refilled
