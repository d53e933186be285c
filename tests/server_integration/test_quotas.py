"""Issue 9 item 7: sessions per sandbox are bounded, and sandbox.max_per_user counts
against the owner of the codebase, never a value the client sends with the sandbox.

The attack: 150 CreateSession calls on one sandbox gave 150 shells. A server with
`max_sessions_per_sandbox: 3` (and the default server, 16) refuses the next one with
RESOURCE_EXHAUSTED / HTTP 429 naming the limit, and leaves nothing behind for it."""

from __future__ import annotations

import concurrent.futures
import shutil
import tempfile
import uuid

import grpc
import pytest
import requests

from conftest import make_codebase, make_sandbox
from server_harness import Server, common, descendants, reason_of, sb


@pytest.fixture(scope="module")
def limited_server():
    data_dir = tempfile.mkdtemp(prefix="af-quota-")
    try:
        srv = Server(data_dir, config=(
            "sandbox:\n  max_sessions_per_sandbox: 3\n  max_per_user: 2\n"
            "  cleanup_interval: 1s\n")).start()
        yield srv
        assert srv.stop() == 0, srv.read_log()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def new_session(server, sandbox_id: str) -> str:
    return server.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox_id)).id


def listed(server, sandbox_id: str) -> list:
    return list(server.sandboxes.ListSessions(sb.ListSessionsRequest(sandbox_id=sandbox_id)).sessions)


def active(server, sandbox_id: str) -> int:
    return sum(s.status == common.SESSION_STATUS_ACTIVE for s in listed(server, sandbox_id))


def assert_session_limit_error(error: grpc.RpcError, limit: int) -> None:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert reason_of(error) == "QUOTA_EXCEEDED"
    assert "sandbox.max_sessions_per_sandbox" in error.details()
    assert str(limit) in error.details()


@pytest.fixture
def limited_sandbox(limited_server):
    codebase_id = make_codebase(limited_server, files={"a.txt": b"a"})
    sandbox_id = make_sandbox(limited_server, codebase_id)
    yield sandbox_id
    limited_server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_sessions_beyond_the_limit_are_refused_and_leave_nothing(limited_server, limited_sandbox):
    for _ in range(3):
        new_session(limited_server, limited_sandbox)
    processes = len(descendants(limited_server.proc.pid))
    records = len(listed(limited_server, limited_sandbox))
    for _ in range(5):  # the attack: keep asking
        with pytest.raises(grpc.RpcError) as e:
            new_session(limited_server, limited_sandbox)
        assert_session_limit_error(e.value, 3)
    assert len(listed(limited_server, limited_sandbox)) == records == 3
    assert len(descendants(limited_server.proc.pid)) == processes, "a refused session left processes"


def test_rest_answers_429_naming_the_limit(limited_server, limited_sandbox):
    url = f"{limited_server.http}/v1/sandboxes/{limited_sandbox}/sessions"
    for _ in range(3):
        assert requests.post(url, json={}).status_code == 200
    r = requests.post(url, json={})
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["status"] == "RESOURCE_EXHAUSTED" and body["reason"] == "QUOTA_EXCEEDED"
    assert "sandbox.max_sessions_per_sandbox" in body["message"]


def test_closed_sessions_free_their_slot(limited_server, limited_sandbox):
    ids = [new_session(limited_server, limited_sandbox) for _ in range(3)]
    limited_server.sandboxes.DestroySession(sb.DestroySessionRequest(session_id=ids[0]))
    ids[0] = new_session(limited_server, limited_sandbox)  # DestroySession freed one
    r = limited_server.sandboxes.SessionExec(sb.SessionExecRequest(session_id=ids[1], command="exit 0"))
    assert r.exit_code == 0
    ids[1] = new_session(limited_server, limited_sandbox)  # `exit` freed one
    with pytest.raises(grpc.RpcError) as e:
        new_session(limited_server, limited_sandbox)
    assert_session_limit_error(e.value, 3)
    assert active(limited_server, limited_sandbox) == 3


def test_restarting_the_sandbox_frees_every_slot(limited_server, limited_sandbox):
    for _ in range(3):
        new_session(limited_server, limited_sandbox)
    limited_server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=limited_sandbox))
    limited_server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=limited_sandbox))
    for _ in range(3):
        new_session(limited_server, limited_sandbox)


def test_concurrent_creates_cannot_overshoot(limited_server, limited_sandbox):
    def create(_):
        try:
            return new_session(limited_server, limited_sandbox)
        except grpc.RpcError as error:
            assert_session_limit_error(error, 3)
            return None
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        created = [s for s in pool.map(create, range(12)) if s]
    assert len(created) == 3
    assert active(limited_server, limited_sandbox) == 3


def test_the_limit_is_per_sandbox(limited_server, limited_sandbox):
    for _ in range(3):
        new_session(limited_server, limited_sandbox)
    codebase_id = make_codebase(limited_server, files={"b.txt": b"b"})
    other = make_sandbox(limited_server, codebase_id)
    try:
        for _ in range(3):
            new_session(limited_server, other)
    finally:
        limited_server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=other))


def test_default_limit_is_16(server, sandbox):
    for _ in range(16):
        new_session(server, sandbox)
    with pytest.raises(grpc.RpcError) as e:
        new_session(server, sandbox)
    assert_session_limit_error(e.value, 16)


# ---- sandbox.max_per_user: counted against the codebase's owner ----

def quota_error(server, codebase_id: str, **kw) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as e:
        make_sandbox(server, codebase_id, start=False, **kw)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(e.value) == "QUOTA_EXCEEDED" and "sandbox.max_per_user" in e.value.details()
    return e.value


def test_max_per_user_adds_up_over_the_owners_codebases(limited_server):
    owner = f"owner-{uuid.uuid4().hex[:8]}"
    first = make_codebase(limited_server, files={"a": b"1"}, owner=owner)
    second = make_codebase(limited_server, files={"b": b"2"}, owner=owner)
    made = [make_sandbox(limited_server, first, start=False),
            make_sandbox(limited_server, second, start=False)]
    error = quota_error(limited_server, first)
    assert owner in error.details()
    quota_error(limited_server, second)
    # Nothing the client sends with the sandbox moves it to another owner's account.
    quota_error(limited_server, second, labels={"owner": "someone-else", "owner_id": "x"})
    # Another owner's quota is untouched by this one's sandboxes.
    stranger = make_codebase(limited_server, files={"c": b"3"}, owner=f"other-{uuid.uuid4().hex[:8]}")
    made.append(make_sandbox(limited_server, stranger, start=False))
    # Destroying one frees one.
    limited_server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=made.pop(0)))
    made.append(make_sandbox(limited_server, second, start=False))
    for sandbox_id in made:
        limited_server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_max_per_user_refusal_leaves_no_record(limited_server):
    owner = f"owner-{uuid.uuid4().hex[:8]}"
    codebase_id = make_codebase(limited_server, files={"a": b"1"}, owner=owner)
    made = [make_sandbox(limited_server, codebase_id, start=False) for _ in range(2)]
    quota_error(limited_server, codebase_id)
    listed_ids = [s.id for s in limited_server.sandboxes.ListSandboxes(
        sb.ListSandboxesRequest(codebase_id=codebase_id)).sandboxes]
    assert sorted(listed_ids) == sorted(made)
    for sandbox_id in made:
        limited_server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
