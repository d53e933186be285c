"""The sync after each command is skipped only when the write layer is empty: every kind
of change, made right after a command that changed nothing, still reaches the codebase,
and so does a write that lands after its own command has ended."""

from __future__ import annotations

import time

import grpc
import pytest

from conftest import download, run
from server_harness import cb, sb


def sh(server, session_id, command):
    r = server.sandboxes.SessionExec(sb.SessionExecRequest(session_id=session_id, command=command))
    assert r.exit_code == 0, r.stderr
    return r


def pending(server, sandbox):
    return [c.path for c in server.sandboxes.ListChanges(
        sb.ListChangesRequest(sandbox_id=sandbox)).changes]


def listing(server, codebase, path):
    return {f.name: f.is_dir for f in server.codebases.ListFiles(
        cb.ListFilesRequest(codebase_id=codebase, path=path)).files}


@pytest.fixture
def session(server, sandbox):
    return server.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox)).id


def test_each_kind_of_change_after_a_quiet_command_is_committed(server, codebase, sandbox,
                                                                 session):
    # Each change alone, after a command that left the layer empty (the skipped case).
    steps = [
        ("echo new > output/new.txt", lambda: download(server, codebase, "output/new.txt") == b"new\n"),
        ("echo more >> output/report.txt",
         lambda: download(server, codebase, "output/report.txt") == b"old report\nmore\n"),
        ("mkdir output/empty", lambda: listing(server, codebase, "output").get("empty") is True),
        ("mv output/new.txt output/moved.txt",
         lambda: "new.txt" not in listing(server, codebase, "output")
         and download(server, codebase, "output/moved.txt") == b"new\n"),
        # A delete alone is a journal record, nothing in upper.
        ("rm output/report.txt", lambda: "report.txt" not in listing(server, codebase, "output")),
        ("rmdir output/empty", lambda: "empty" not in listing(server, codebase, "output")),
    ]
    for command, committed in steps:
        sh(server, session, "true")
        assert pending(server, sandbox) == []
        sh(server, session, command)
        assert committed(), command
        assert pending(server, sandbox) == [], command
    # The one-shot path skips the same way.
    assert run(server, sandbox, "true").exit_code == 0
    assert run(server, sandbox, "echo once > output/once.txt").exit_code == 0
    assert download(server, codebase, "output/once.txt") == b"once\n"
    assert pending(server, sandbox) == []


def test_a_write_after_its_command_ended_is_committed_by_the_next_quiet_one(
        server, codebase, sandbox, session):
    sh(server, session, "(sleep 0.5; echo late > output/late.txt) >/dev/null 2>&1 &")
    with pytest.raises(grpc.RpcError):
        download(server, codebase, "output/late.txt")  # not written yet
    time.sleep(1.5)
    sh(server, session, "true")  # changed nothing itself; the layer did change
    assert download(server, codebase, "output/late.txt") == b"late\n"
    assert pending(server, sandbox) == []
