"""Issue 13 part 2: the server keeps each sandbox's audit trail under <data_dir>/audit, with
file events from the fs process and security events from the server in one hash-chained
file, queryable over gRPC (GetAuditEvents, GetAuditSummary) and REST
(GET /v1/sandboxes/{id}/audit, NDJSON, follow mode) and by `agentfense audit --server`.
The trail outlives destroy, a restart and kill -9, and is scoped to its owner."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from conftest import make_codebase, make_sandbox, run
from server_harness import AGENT_SAFE, Server, agentfense_bin, cb, common, reason_of, sb, serving
from tenants import start_tenant_server


@pytest.fixture(scope="module")
def server():
    yield from serving("af-audit-", config="sandbox:\n  cleanup_interval: 1s\n")


def events(server, sandbox_id: str, **filters) -> list[dict]:
    return [json.loads(e.line) for e in server.sandboxes.GetAuditEvents(
        sb.GetAuditEventsRequest(sandbox_id=sandbox_id, **filters), timeout=30)]


def rest_events(server, sandbox_id: str, **params) -> list[dict]:
    import requests
    r = requests.get(f"{server.http}/v1/sandboxes/{sandbox_id}/audit", params=params, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines()]


def trail_path(server, sandbox_id: str) -> str:
    return os.path.join(server.data_dir, "audit", f"{sandbox_id}.jsonl")


def verify(path: str) -> subprocess.CompletedProcess:
    return subprocess.run([agentfense_bin(), "audit", "verify", path], capture_output=True,
                          text=True, timeout=60)


def test_exact_events_for_a_hidden_cat_a_write_and_a_timeout(server):
    codebase = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase)
    assert run(server, sandbox_id, "cat .env").exit_code != 0
    assert run(server, sandbox_id, "echo new > output/new.txt").exit_code == 0
    with pytest.raises(grpc.RpcError) as raised:
        run(server, sandbox_id, "sleep 30", timeout=Duration(seconds=1))
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    trail = events(server, sandbox_id)
    assert [e["seq"] for e in trail] == list(range(1, len(trail) + 1))
    created = trail[0]
    assert (created["kind"], created["op"], created["caller"]) == ("security", "sandbox_created",
                                                                   "local")
    assert created["codebase_id"] == codebase and created["owner"].startswith("owner-")
    assert {"pattern": "**/.env*", "permission": "PERMISSION_NONE", "priority": 100} \
        .items() <= created["rules"][3].items()
    assert created["runtime"] == "RUNTIME_TYPE_BWRAP" and "limits" in created
    assert any(e["op"] == "sandbox_started" for e in trail)

    hidden = [e for e in trail if e.get("path") == "/.env"]
    assert hidden, trail
    assert all(e["outcome"] == "denied" for e in hidden)
    assert any(e["op"] == "lookup" and e["reason"] == "hidden" and e["errno"] == "ENOENT"
               and e["rule"].startswith("**/.env* -> none") for e in hidden)
    written = [e for e in trail if e.get("path") == "/output/new.txt" and e["outcome"] == "allowed"]
    assert {"create", "open_write"} <= {e["op"] for e in written}, written

    execs = [e for e in trail if e["op"] == "exec" and e["kind"] == "security"]
    assert [e["command"] for e in execs] == ["cat .env", "echo new > output/new.txt", "sleep 30"]
    assert execs[0]["exit_code"] != 0 and execs[0]["timed_out"] is False
    assert execs[1]["exit_code"] == 0 and execs[1]["caller"] == "local"
    assert execs[2]["timed_out"] is True and 900 <= execs[2]["duration_ms"] < 20000
    assert execs[2]["workdir"] == "/workspace"
    assert execs[2]["stdout_truncated"] is False

    # The same trail over REST, filtered; the chain verifies.
    denied = rest_events(server, sandbox_id, outcome="denied")
    assert denied and all(e["outcome"] == "denied" for e in denied)
    assert {e["seq"] for e in denied} == {e["seq"] for e in trail if e["outcome"] == "denied"}
    security = rest_events(server, sandbox_id, kind="security", op="exec")
    assert [e["command"] for e in security] == [e["command"] for e in execs]
    assert all(e["path"].startswith("/output") for e in rest_events(server, sandbox_id,
                                                                   path="/output"))
    assert verify(trail_path(server, sandbox_id)).returncode == 0
    # The structured server log carries the same security events.
    log = [json.loads(l) for l in server.read_log().splitlines() if l.startswith("{")]
    assert any(l.get("event") == "audit.exec" and l.get("sandbox_id") == sandbox_id
               and l.get("command") == "sleep 30" and l.get("timed_out") is True for l in log)


def test_a_fork_bomb_and_an_oom_kill_are_recorded_as_limit_hits(server):
    codebase = make_codebase(server)
    # 192 MiB: at 96 the fork bomb itself was once OOM-killed in a loaded CI run (32 shells
    # and their pipes, exit 137 after 0.34 s, both limits reported), which is not what this
    # checks; the 400 MiB allocations below still pass it.
    sandbox_id = make_sandbox(server, codebase, resources=common.ResourceLimits(
        memory_bytes=192 << 20, pids_limit=32))
    bomb = run(server, sandbox_id, "bomb() { bomb | bomb & }; bomb; sleep 2",
               timeout=Duration(seconds=20))
    assert bomb.pids_limit_reached and not bomb.oom_killed, bomb
    hungry = run(server, sandbox_id, "python3 -c \"b = b'x' * (400 << 20)\"")
    assert hungry.exit_code == 137 and hungry.oom_killed and not hungry.pids_limit_reached, hungry
    calm = run(server, sandbox_id, "true")
    assert not calm.oom_killed and not calm.pids_limit_reached
    session = server.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox_id))
    in_session = server.sandboxes.SessionExec(sb.SessionExecRequest(
        session_id=session.id, command="python3 -c \"b = b'x' * (400 << 20)\""))
    assert in_session.exit_code == 137 and in_session.oom_killed, in_session

    execs = [e for e in events(server, sandbox_id, kind="security")
             if e["op"] in ("exec", "session_exec")]
    assert [(e["op"], e["oom_killed"], e["pids_limit_reached"]) for e in execs] == [
        ("exec", False, True), ("exec", True, False), ("exec", False, False),
        ("session_exec", True, False)], execs
    assert execs[1]["exit_code"] == 137 and execs[3]["session_id"] == session.id


def test_refused_requests_and_uncommitted_writes_are_recorded(server):
    """What the policy or the server refused is in the trail too, not only what ran."""
    codebase = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase)
    synced = run(server, sandbox_id, "cd output && ln -s /etc/shadow s && mkfifo p && echo x > f")
    assert synced.exit_code == 0, synced
    for bad in (sb.ExecRequest(sandbox_id=sandbox_id, command="true", workdir="output/../.."),
                sb.ExecRequest(sandbox_id=sandbox_id, command="echo \0 x")):
        with pytest.raises(grpc.RpcError) as raised:
            server.sandboxes.Exec(bad)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as raised:
        server.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox_id,
                                                               shell="/bin/zsh"))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A refusal naming no sandbox creates no trail.
    with pytest.raises(grpc.RpcError):
        server.sandboxes.Exec(sb.ExecRequest(sandbox_id="sb_nosuchsandbox", command=""))
    assert not os.path.exists(trail_path(server, "sb_nosuchsandbox"))

    trail = events(server, sandbox_id, kind="security")
    execs = [e for e in trail if e["op"] == "exec"]
    assert execs[0]["committed"] == ["/output/f"], execs
    assert sorted(execs[0]["commit_denied"]) == ["/output/p", "/output/s"]
    refused = [e for e in trail if e["op"].endswith("_refused")]
    assert [(e["op"], e["outcome"]) for e in refused] == [
        ("exec_refused", "denied"), ("exec_refused", "denied"), ("session_refused", "denied")]
    assert "'..'" in refused[0]["error"] and refused[0]["command"] == "true"
    assert "NUL" in refused[1]["error"]
    assert refused[2]["command"] == "/bin/zsh" and "cannot run a session" in refused[2]["error"]
    assert verify(trail_path(server, sandbox_id)).returncode == 0


def test_an_exec_event_names_at_most_1000_paths_or_64_kib_of_them(server):
    """The attack: a command that changes many files with long paths made its exec line
    as long as all of them together (5,000 files at the bottom of a 3,000-level chain: one
    39 MB line). An event's path lists are bounded and say how many they left out; each
    file's own event still names it."""
    codebase = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase)
    r = run(server, sandbox_id,
            "mkdir output/many && for i in $(seq 1 1200); do : > output/many/f$i; done")
    assert r.exit_code == 0, r.stderr
    long_dir = "/".join(["n" * 250] * 4)  # ~1 KiB paths: 100 of them pass 64 KiB
    r = run(server, sandbox_id, f"mkdir -p output/{long_dir} && "
            f"for i in $(seq 1 100); do : > output/{long_dir}/f$i; done")
    assert r.exit_code == 0, r.stderr
    trail = events(server, sandbox_id, kind="security")
    many, long_paths = [e for e in trail if e["op"] == "exec"][-2:]
    assert len(many["committed"]) == 1000, len(many["committed"])
    assert many["committed_omitted"] == 1201 - 1000  # the directory and 1,200 files
    assert "commit_denied_omitted" not in many and many["commit_denied"] == []
    listed_bytes = sum(len(p) for p in long_paths["committed"])
    assert 64 * 1024 <= listed_bytes < 64 * 1024 + 1100, listed_bytes
    assert len(long_paths["committed"]) + long_paths["committed_omitted"] == 104
    created = {e["path"] for e in events(server, sandbox_id, kind="file", outcome="allowed")
               if e["op"] == "create" and e["path"].startswith("/output/many/")}
    assert len(created) == 1200
    with open(trail_path(server, sandbox_id), "rb") as trail_file:
        assert max(len(line) for line in trail_file) < 200_000


def test_command_ids_stay_unique_across_restarts(server):
    # Ids restarted at c1 after StopSandbox/StartSandbox: one trail held two c1, and a
    # reader joining file events to commands blamed `cat README.md` for the /.env probe
    # of the first start (attack sweep G11).
    codebase = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase)
    run(server, sandbox_id, "cat .env")
    server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
    server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
    run(server, sandbox_id, "cat README.md")
    trail = events(server, sandbox_id)
    execs = [e for e in trail if e["kind"] == "security" and e["op"] == "exec"]
    assert len(execs) == 2 and execs[0]["cmd"] != execs[1]["cmd"], execs
    probe = next(e for e in trail if e.get("path") == "/.env")
    read = next(e for e in trail if e.get("path") == "/README.md")
    assert (probe["cmd"], read["cmd"]) == (execs[0]["cmd"], execs[1]["cmd"])
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_commit_and_discard_are_recorded(server):
    codebase = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase, sync_mode=common.SYNC_MODE_MANUAL)
    run(server, sandbox_id, "echo a > output/a.txt")
    server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))
    run(server, sandbox_id, "echo b > output/b.txt")
    server.sandboxes.DiscardChanges(sb.DiscardChangesRequest(sandbox_id=sandbox_id))
    trail = events(server, sandbox_id, kind="security")
    commit = next(e for e in trail if e["op"] == "commit")
    assert commit["applied"] == ["/output/a.txt"] and commit["caller"] == "local"
    assert [e["op"] for e in trail][-1] == "discard"


def test_path_filter_matches_names_that_are_not_utf8(server, codebase):
    """A non-UTF-8 name is stored quoted ("/output/b\\377"): the path filter compares the
    raw bytes, so such a file stays under ?path=/output (it vanished from every filtered
    query, REST, gRPC and `audit --server --path`)."""
    sandbox_id = make_sandbox(server, codebase)
    assert run(server, sandbox_id, "printf stolen > \"output/$(printf 'b\\377')\"").exit_code == 0
    quoted = '"/output/b\\377"'
    assert {"create", "open_write"} <= {e["op"] for e in events(server, sandbox_id)
                                       if e.get("path") == quoted}
    for found in (events(server, sandbox_id, path="/output"),
                  rest_events(server, sandbox_id, path="/output"),
                  events(server, sandbox_id, path=quoted),  # the name itself, as the API quotes it
                  rest_events(server, sandbox_id, path=quoted)):
        assert {"create", "open_write"} <= {e["op"] for e in found if e.get("path") == quoted}
    out = subprocess.run([agentfense_bin(), "audit", "--server", server.http, "--sandbox",
                          sandbox_id, "--path", "/output", "--json"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert quoted in [json.loads(line).get("path") for line in out.stdout.splitlines()]
    raw = subprocess.run([agentfense_bin(), "audit", "--server", server.http, "--sandbox",
                          sandbox_id, "--path", b"/output/b\xff", "--json"],
                         capture_output=True, timeout=60)
    assert raw.returncode == 0, raw.stderr
    assert quoted in [json.loads(line).get("path") for line in raw.stdout.splitlines()]
    with pytest.raises(grpc.RpcError) as raised:
        events(server, sandbox_id, path='"/output/b\\9"')
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "path" in raised.value.details()


def test_bad_filters_are_invalid_argument(server, codebase):
    sandbox_id = make_sandbox(server, codebase, start=False)
    for bad in ({"since": "yesterday"}, {"kind": "files"}, {"outcome": "refused"},
                {"path": "relative"}):
        with pytest.raises(grpc.RpcError) as raised:
            events(server, sandbox_id, **bad)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert list(bad)[0] in raised.value.details()
    import requests
    r = requests.get(f"{server.http}/v1/sandboxes/{sandbox_id}/audit?since=yesterday", timeout=10)
    assert r.status_code == 400 and "since" in r.text
    # since: only later events; a time after everything selects nothing.
    assert events(server, sandbox_id, since="2000-01-01T00:00:00Z")
    assert events(server, sandbox_id, since="2999-01-01T00:00:00.5Z") == []
    with pytest.raises(grpc.RpcError) as raised:
        events(server, "sb_doesnotexist")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(raised.value) == "SANDBOX_NOT_FOUND"


NEVER_MATCHING = [{"op": "open-read"}, {"op": "OPEN_READ"}, {"path": "/**"}, {"path": "/*.md"},
                  {"path": "/output/../.env"}, {"path": "/output//x"},
                  {"since": "2026-02-31T25:61:61Z"}, {"since": "2026-02-30T00:00:00Z"},
                  {"since": "2026-12-04T24:00:00Z"}, {"since": "2026-13-01T00:00:00Z"}]


@pytest.mark.parametrize("bad", NEVER_MATCHING, ids=lambda bad: "=".join(*bad.items()))
def test_filters_that_could_never_match_are_invalid_argument(server, codebase, bad):
    """An op typo, a glob or an impossible time answered 200 with nothing (or everything):
    an empty answer reads as "the agent did not do that"."""
    import requests
    sandbox_id = make_sandbox(server, codebase, start=False)
    with pytest.raises(grpc.RpcError) as raised:
        events(server, sandbox_id, **bad)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith(list(bad)[0] + ": ")
    r = requests.get(f"{server.http}/v1/sandboxes/{sandbox_id}/audit", params=bad, timeout=10)
    assert r.status_code == 400 and list(bad)[0] in r.text
    cli = subprocess.run([agentfense_bin(), "audit", "--server", server.http, "--sandbox",
                          sandbox_id, f"--{list(bad)[0]}", list(bad.values())[0]],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and f"--{list(bad)[0]}: " in cli.stderr, cli.stderr


def test_filters_that_can_match_are_accepted(server, codebase):
    sandbox_id = make_sandbox(server, codebase)
    run(server, sandbox_id, "cat README.md")
    assert events(server, sandbox_id, op="open_read", path="/README.md/")
    assert events(server, sandbox_id, op="sandbox_created", since="2024-02-29T23:59:59.5Z")
    assert events(server, sandbox_id, op="events_dropped") == []  # known, just absent
    assert events(server, sandbox_id, path="/") and events(server, sandbox_id, path="/a[1]") == []


def test_an_id_naming_a_file_outside_the_audit_dir_is_not_found(server):
    """The attack: a sandbox id with "../" reading any *.jsonl (and its .owner) on the
    server's disk through the trail routes."""
    outside = os.path.join(server.data_dir, "stolen.jsonl")
    with open(outside, "w") as f:
        f.write('{"v":1,"seq":1,"ts":"2026-01-01T00:00:00.000000Z","kind":"file","op":"x"}\n')
    with open(os.path.join(server.data_dir, "stolen.owner"), "w") as f:
        f.write("anyone")
    try:
        for sandbox_id in ("../stolen", "..%2Fstolen", "sb_x/../../stolen"):
            with pytest.raises(grpc.RpcError) as raised:
                events(server, sandbox_id)
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.RpcError) as raised:
                server.sandboxes.GetAuditSummary(sb.GetAuditSummaryRequest(sandbox_id=sandbox_id))
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        os.unlink(outside)
        os.unlink(os.path.join(server.data_dir, "stolen.owner"))


def test_follow_streams_a_live_event(server, codebase):
    import requests
    sandbox_id = make_sandbox(server, codebase)
    lines: queue.Queue = queue.Queue()
    response = requests.get(f"{server.http}/v1/sandboxes/{sandbox_id}/audit",
                            params={"follow": "true", "path": "/README.md"}, stream=True,
                            timeout=30)

    def reader():
        try:
            for line in response.iter_lines():
                if line:
                    lines.put(json.loads(line))
        except Exception:  # the response closed under us: the test is over
            pass

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    time.sleep(0.5)
    assert lines.empty()  # nothing has touched README.md yet
    run(server, sandbox_id, "cat README.md")
    event = lines.get(timeout=10)
    assert (event["op"], event["path"], event["outcome"]) == ("open_read", "/README.md", "allowed")
    response.close()
    thread.join(timeout=10)

    # gRPC: the same, ended by cancelling the call.
    call = server.sandboxes.GetAuditEvents(sb.GetAuditEventsRequest(
        sandbox_id=sandbox_id, follow=True, op="exec"))
    got = []
    reader2 = threading.Thread(target=lambda: [got.append(json.loads(e.line)) for e in
                                               _until_cancelled(call)], daemon=True)
    reader2.start()
    run(server, sandbox_id, "true")
    deadline = time.time() + 10
    while len(got) < 2 and time.time() < deadline:
        time.sleep(0.1)
    call.cancel()
    reader2.join(timeout=10)
    assert [e["command"] for e in got] == ["cat README.md", "true"]


def _until_cancelled(call):
    try:
        yield from call
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.CANCELLED


def test_summary_over_grpc_and_rest(server, codebase):
    import requests
    sandbox_id = make_sandbox(server, codebase)
    run(server, sandbox_id, "cat README.md; cat .env; echo x > output/x.txt")
    summary = json.loads(server.sandboxes.GetAuditSummary(
        sb.GetAuditSummaryRequest(sandbox_id=sandbox_id)).json)
    assert "/README.md" in [f["path"] for f in summary["files_read"]]
    assert "/output/x.txt" in [f["path"] for f in summary["files_written"]]
    assert "/.env" in [f["path"] for f in summary["denied"]]
    assert [c["command"] for c in summary["commands"]] == [
        "cat README.md; cat .env; echo x > output/x.txt"]
    r = requests.get(f"{server.http}/v1/sandboxes/{sandbox_id}/audit/summary", timeout=10)
    assert r.status_code == 200 and r.json() == summary


def test_summary_cuts_long_commands(server, codebase):
    """530 commands of 128 KiB once made a summary larger than any gRPC reply: each listed
    command now keeps its first 1 KiB and says how long it was."""
    import requests
    sandbox_id = make_sandbox(server, codebase)
    long_command = ": " + "A" * 100_000
    for _ in range(3):
        run(server, sandbox_id, long_command)
    run(server, sandbox_id, "true")
    summary = json.loads(server.sandboxes.GetAuditSummary(
        sb.GetAuditSummaryRequest(sandbox_id=sandbox_id)).json)
    commands = summary["commands"]
    assert [c["command"] for c in commands] == [long_command[:1024]] * 3 + ["true"]
    assert [c.get("command_bytes") for c in commands] == [len(long_command)] * 3 + [None]
    assert summary["commands_omitted"] == 0
    r = requests.get(f"{server.http}/v1/sandboxes/{sandbox_id}/audit/summary", timeout=10)
    assert r.status_code == 200 and r.json() == summary


def test_file_api_calls_are_security_events_and_own_their_file_events(server, codebase):
    """WriteSandboxFile once committed into the codebase with no security event, and its
    file events (like ReadSandboxFile's) carried no cmd: they read as the agent's own."""
    sandbox_id = make_sandbox(server, codebase)
    server.sandboxes.WriteSandboxFile(sb.WriteSandboxFileRequest(
        sandbox_id=sandbox_id, path="/output/api.txt", content=b"from api"))
    server.sandboxes.ReadSandboxFile(sb.ReadSandboxFileRequest(
        sandbox_id=sandbox_id, path="/README.md"))
    with pytest.raises(grpc.RpcError) as raised:
        server.sandboxes.ReadSandboxFile(sb.ReadSandboxFileRequest(
            sandbox_id=sandbox_id, path="/.env"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    trail = events(server, sandbox_id)  # on disk before the calls answered
    writes = [e for e in trail if e["op"] == "write_file"]
    assert len(writes) == 1, trail
    write = writes[0]
    assert (write["kind"], write["outcome"], write["caller"]) == ("security", "allowed", "local")
    assert (write["path"], write["bytes"]) == ("/output/api.txt", 8)
    assert write["committed"] == ["/output/api.txt"] and write["commit_denied"] == []
    written = [e for e in trail if e["kind"] == "file" and e.get("path") == "/output/api.txt"]
    assert {"create", "open_write"} <= {e["op"] for e in written}, written
    assert {e["cmd"] for e in written} == {write["cmd"]}

    reads = [e for e in trail if e["op"] == "read_file"]
    assert [(e["path"], e["outcome"]) for e in reads] == [("/README.md", "allowed"),
                                                          ("/.env", "denied")]
    assert reads[0]["bytes"] > 0 and reads[0]["caller"] == "local"
    assert reads[1]["error"] == "no such file in the sandbox: /.env", reads[1]
    opened = [e for e in trail if e["kind"] == "file" and e.get("path") == "/README.md"]
    assert opened and {e["cmd"] for e in opened} == {reads[0]["cmd"]}, opened
    assert len({write["cmd"], reads[0]["cmd"], reads[1]["cmd"]}) == 3
    # The ops are known to the filters (a filter on an op the trail does not write is
    # refused as one that could never match).
    assert [e["op"] for e in events(server, sandbox_id, op="write_file")] == ["write_file"]
    assert len(events(server, sandbox_id, op="read_file")) == 2


def test_a_file_api_call_during_a_command_leaves_its_later_events_tagged(server, codebase):
    """A WriteSandboxFile is a command of its own; when it ended during an agent's longer
    command, the rest of that command's events were left with no cmd."""
    sandbox_id = make_sandbox(server, codebase)
    session = server.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox_id))
    agent = threading.Thread(target=lambda: server.sandboxes.SessionExec(sb.SessionExecRequest(
        session_id=session.id, command="sleep 1.5; cat .env; true")))
    agent.start()
    time.sleep(0.5)
    server.sandboxes.WriteSandboxFile(sb.WriteSandboxFileRequest(
        sandbox_id=sandbox_id, path="/output/api.txt", content=b"from api"))
    agent.join(timeout=30)
    trail = events(server, sandbox_id)
    command = [e for e in trail if e["op"] == "session_exec"][0]
    write = [e for e in trail if e["op"] == "write_file"][0]
    probes = [e for e in trail if e.get("path") == "/.env"]
    assert probes and {e.get("cmd") for e in probes} == {command["cmd"]}, probes
    assert command["cmd"] != write["cmd"]
    server.sandboxes.DestroySession(sb.DestroySessionRequest(session_id=session.id))


def test_cli_server_mode(server, codebase):
    sandbox_id = make_sandbox(server, codebase)
    run(server, sandbox_id, "cat .env")
    out = subprocess.run([agentfense_bin(), "audit", "--server", server.http, "--sandbox",
                          sandbox_id, "--denied"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "/.env" in out.stdout and "DENIED" in out.stdout
    assert "sandbox_created" not in out.stdout
    summary = subprocess.run([agentfense_bin(), "audit", "--server", server.http, "--sandbox",
                              sandbox_id, "--summary", "--json"], capture_output=True, text=True,
                             timeout=60)
    assert summary.returncode == 0, summary.stderr
    assert "/.env" in [d["path"] for d in json.loads(summary.stdout)["denied"]]


def test_trail_survives_destroy_restart_and_kill_9():
    data_dir = tempfile.mkdtemp(prefix="af-audit-keep-")
    srv = Server(data_dir).start()
    try:
        codebase = make_codebase(srv)
        sandbox_id = make_sandbox(srv, codebase)
        run(srv, sandbox_id, "cat .env; echo kept > output/kept.txt")
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
        with pytest.raises(grpc.RpcError):
            srv.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
        before = events(srv, sandbox_id)
        assert before[-1]["op"] == "sandbox_destroyed"
        assert any(e.get("path") == "/.env" for e in before)

        assert srv.stop() == 0, srv.read_log()
        srv.start()
        assert events(srv, sandbox_id) == before

        # kill -9 right after an acknowledged event: it is on disk.
        other = make_sandbox(srv, codebase)
        run(srv, other, "echo acknowledged")
        srv.kill()
        srv.start()
        assert events(srv, sandbox_id) == before
        after = events(srv, other)
        assert any(e.get("command") == "echo acknowledged" for e in after)
        assert after[-1]["op"] == "sandbox_stopped" and after[-1]["why"] == "server restarted"
        for trail in (sandbox_id, other):
            result = verify(trail_path(srv, trail))
            assert result.returncode == 0, result.stdout + result.stderr
    finally:
        srv.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_retention_removes_old_trails_at_start():
    data_dir = tempfile.mkdtemp(prefix="af-audit-retention-")
    srv = Server(data_dir).start()
    try:
        codebase = make_codebase(srv)
        gone, kept = make_sandbox(srv, codebase, start=False), make_sandbox(srv, codebase,
                                                                            start=False)
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=gone))
        assert srv.stop() == 0
        old = time.time() - 3 * 86400
        os.utime(trail_path(srv, gone), (old, old))
        srv.config_text = "audit:\n  retention: 2d\n"
        srv.start()
        assert not os.path.exists(trail_path(srv, gone))
        with pytest.raises(grpc.RpcError) as raised:
            events(srv, gone)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert events(srv, kept)[0]["op"] == "sandbox_created"
        # A sandbox that still exists keeps its trail, however old.
        assert srv.stop() == 0
        os.utime(trail_path(srv, kept), (old, old))
        srv.start()
        assert events(srv, kept)[0]["op"] == "sandbox_created"

        # max_bytes: over the limit, destroyed sandboxes' trails go, oldest first; a
        # sandbox that still exists keeps its trail.
        older, newer = (make_sandbox(srv, codebase, start=False) for _ in range(2))
        for sandbox_id in (older, newer):
            srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
        assert srv.stop() == 0
        os.utime(trail_path(srv, older), (time.time() - 60, time.time() - 60))
        keep_bytes = os.path.getsize(trail_path(srv, kept)) + os.path.getsize(
            trail_path(srv, newer))
        srv.config_text = f"audit:\n  retention: 2d\n  max_bytes: {keep_bytes}\n"
        srv.start()
        assert not os.path.exists(trail_path(srv, older))
        assert os.path.exists(trail_path(srv, newer)) and os.path.exists(trail_path(srv, kept))
        assert srv.stop() == 0
        srv.config_text = "audit:\n  max_bytes: 1\n"
        srv.start()
        assert not os.path.exists(trail_path(srv, newer))
        assert os.path.exists(trail_path(srv, kept))  # its sandbox exists
        assert '"event":"audit.trail_removed"' in srv.read_log()
    finally:
        srv.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_another_tenant_gets_not_found_also_after_destroy():
    t = start_tenant_server({"alice": {"owners": ["team-a"]}, "bob": {"owners": ["team-b"]},
                             "admin": {"role": "admin"}})
    try:
        bob, alice = t.client("bob"), t.client("alice")
        codebase = bob.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="bobs"))
        sandbox = bob.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
            codebase_id=codebase.id, permissions=AGENT_SAFE))

        def refused_like_missing(client, sandbox_id):
            for sid in (sandbox_id, "sb_" + "0" * 24):
                with pytest.raises(grpc.RpcError) as raised:
                    list(client.sandboxes.GetAuditEvents(
                        sb.GetAuditEventsRequest(sandbox_id=sid), timeout=10))
                assert raised.value.code() == grpc.StatusCode.NOT_FOUND
                assert reason_of(raised.value) == "SANDBOX_NOT_FOUND"
                with pytest.raises(grpc.RpcError) as raised:
                    client.sandboxes.GetAuditSummary(sb.GetAuditSummaryRequest(sandbox_id=sid))
                assert raised.value.code() == grpc.StatusCode.NOT_FOUND
            r = client.http.get(f"{client.url}/v1/sandboxes/{sandbox_id}/audit", timeout=10)
            assert r.status_code == 404 and sandbox_id not in r.text.replace(sandbox_id, "", 1)

        def bobs_events():
            return [json.loads(e.line) for e in bob.sandboxes.GetAuditEvents(
                sb.GetAuditEventsRequest(sandbox_id=sandbox.id), timeout=10)]

        created = bobs_events()[0]
        assert created["caller"] == "bob" and created["owner"] == "team-b"
        refused_like_missing(alice, sandbox.id)
        bob.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox.id))
        assert bobs_events()[-1]["op"] == "sandbox_destroyed"
        assert bobs_events()[-1]["caller"] == "bob"
        refused_like_missing(alice, sandbox.id)
        r = bob.http.get(f"{bob.url}/v1/sandboxes/{sandbox.id}/audit/summary", timeout=10)
        assert r.status_code == 200, r.text
    finally:
        t.stop()
