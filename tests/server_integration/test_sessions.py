"""Persistent shell sessions through gRPC."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from conftest import run
from server_harness import common, reason_of, sb

# Every test here runs on both runtimes (conftest.py: the `runtime` parameter).
RUNTIMES = ("bwrap", "docker")


@pytest.fixture
def session(server, sandbox):
    s = server.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox, env={"START": "1"}))
    yield s.id
    try:
        server.sandboxes.DestroySession(sb.DestroySessionRequest(session_id=s.id))
    except grpc.RpcError:
        pass


def sh(server, session_id, command, timeout=None):
    kw = {"timeout": Duration(seconds=timeout)} if timeout else {}
    return server.sandboxes.SessionExec(sb.SessionExecRequest(session_id=session_id, command=command, **kw))


def test_state_persists_and_output_is_exact(server, session):
    assert sh(server, session, "cd src && export A=1 && B=2").exit_code == 0
    r = sh(server, session, "pwd; echo $A$B$START")
    assert r.stdout == "/workspace/src\n121\n"
    r = sh(server, session, "printf abc; echo err >&2; false")
    assert (r.stdout, r.stderr, r.exit_code) == ("abc", "err\n", 1)
    r = sh(server, session, "cat <<EOF\nline $A\nEOF\n# a comment")
    assert r.stdout == "line 1\n" and r.exit_code == 0
    r = sh(server, session, "if then")
    assert r.exit_code == 2 and "syntax error" in r.stderr
    assert sh(server, session, "echo still $A").stdout == "still 1\n"


def test_timeout_kills_command_not_session(server, session):
    sh(server, session, "cd /workspace/docs; export KEEP=yes")
    with pytest.raises(grpc.RpcError) as e:
        sh(server, session, "sleep 100", timeout=1)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert reason_of(e.value) == "COMMAND_TIMEOUT"
    r = sh(server, session, "pwd; echo $KEEP; ps -eo args | grep -c '^sleep 100' || true")
    assert r.stdout.splitlines()[:2] == ["/workspace/docs", "yes"]
    assert r.stdout.splitlines()[2] == "0"


def test_concurrent_calls_are_serialized(server, session):
    results = []

    def call(tag):
        results.append(sh(server, session, f"echo {tag}-start; sleep 0.3; echo {tag}-end").stdout)
    threads = [threading.Thread(target=call, args=(t,)) for t in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [f"{t}-start\n{t}-end\n" for t in ("a", "b", "c")]


def test_exit_closes_the_session(server, session):
    r = sh(server, session, "exit 3")
    assert r.exit_code == 3
    got = server.sandboxes.GetSession(sb.GetSessionRequest(session_id=session))
    assert got.status == common.SESSION_STATUS_CLOSED and got.closed_at.seconds > 0
    with pytest.raises(grpc.RpcError) as e:
        sh(server, session, "true")
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(e.value) == "SESSION_CLOSED"


def test_destroy_kills_every_process(server, sandbox, session):
    sh(server, session, "sleep 1000 & sleep 1001 &")
    assert "sleep 1000" in run(server, sandbox, "ps -eo args").stdout or True  # other pid ns
    server.sandboxes.DestroySession(sb.DestroySessionRequest(session_id=session))
    deadline = time.time() + 10
    import subprocess
    while time.time() < deadline:
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if "sleep 1001" not in ps:
            break
        time.sleep(0.1)
    assert "sleep 1001" not in ps
    listed = server.sandboxes.ListSessions(sb.ListSessionsRequest(sandbox_id=sandbox))
    assert [s.status for s in listed.sessions if s.id == session] == [common.SESSION_STATUS_CLOSED]


def test_stream_and_unknown_session(server, session):
    outs = list(server.sandboxes.SessionExecStream(sb.SessionExecRequest(
        session_id=session, command="echo one; echo two >&2")))
    assert outs[-1].type == sb.ExecOutput.OUTPUT_TYPE_EXIT and outs[-1].exit_code == 0
    assert b"".join(o.data for o in outs if o.type == sb.ExecOutput.OUTPUT_TYPE_STDOUT) == b"one\n"
    with pytest.raises(grpc.RpcError) as e:
        sh(server, "ses_missing", "true")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(e.value) == "SESSION_NOT_FOUND"


def test_session_writes_sync_to_codebase(server, codebase, session):
    from conftest import download
    sh(server, session, "cd output && echo via-session > s.txt")
    assert download(server, codebase, "output/s.txt") == b"via-session\n"
    assert sh(server, session, "pwd; echo more >> s.txt; cat s.txt").stdout == (
        "/workspace/output\nvia-session\nmore\n")


@pytest.mark.parametrize("shell", ["/bin/sh", "bash"])
def test_shell_names_and_error_lines_read_as_bash_on_both_runtimes(server, sandbox, shell):
    # Issue 11 items 6 and 7 on both runtimes: clients' /bin/sh runs the same bash driver,
    # and error lines read "bash: line N" (the command's line), never "environment: ...".
    s = server.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox, shell=shell)).id
    r = sh(server, s, "nosuch-command")
    assert (r.exit_code, r.stderr) == (127, "bash: line 1: nosuch-command: command not found\n")
    r = sh(server, s, "echo ok\n\ncd /nonexistent")
    assert r.stderr == "bash: line 3: cd: /nonexistent: No such file or directory\n"
    r = sh(server, s, "f() { nosuch-in-function; }; f")
    assert r.stderr == "bash: line 1: nosuch-in-function: command not found\n"
    # Where the session started, OLDPWD unset as in a fresh bash, none of the driver's
    # variables left; the file the runner came from is the runtime's, read-only.
    r = sh(server, s, "echo \"$PWD|${OLDPWD-unset}|$(shopt -p sourcepath)|${__af_define-}\"; "
                      "[[ -o posix ]] || echo not-posix")
    assert r.stdout == "/workspace|unset|shopt -s sourcepath|\nnot-posix\n"
    assert sh(server, s, "cat /run/agentfense/session/bash").stdout == \
        "builtin eval \"$__af_define\"\n"
    assert sh(server, s, "echo x > /run/agentfense/session/bash").exit_code != 0
    assert sh(server, s, "touch /run/agentfense/session/other").exit_code != 0
