"""SandboxService lifecycle, exec and the write layer, end to end through gRPC."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from conftest import SECRET, download, make_codebase, make_sandbox, run, runtime_kw
from server_harness import AGENT_SAFE, common, reason_of, rule, sb, serving, upload

# Tests taking `runtime` (directly or through `sandbox`) run on both runtimes.
RUNTIMES = ("bwrap", "docker")


def get(server, sandbox_id):
    return server.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))


def test_bad_glob_is_refused_naming_the_rule(server, codebase):
    with pytest.raises(grpc.RpcError) as e:
        server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
            codebase_id=codebase, permissions=[rule("**", "read"), rule("/src/[abc", "write")]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(e.value) == "INVALID_RULE"
    assert "permissions[1]" in e.value.details() and "/src/[abc" in e.value.details()


def test_unknown_codebase_and_docker_image(server, codebase):
    with pytest.raises(grpc.RpcError) as e:
        server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(codebase_id="cb_missing"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(e.value) == "CODEBASE_NOT_FOUND"
    with pytest.raises(grpc.RpcError) as e:
        server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
            codebase_id=codebase, runtime=common.RUNTIME_TYPE_DOCKER, image="no/such:image"))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(e.value) == "IMAGE_NOT_FOUND" and "no/such:image" in e.value.details()


def test_lifecycle_statuses_and_timestamps(server, codebase, runtime):
    sandbox_id = make_sandbox(server, codebase, start=False, labels={"team": "a"},
                              **runtime_kw(runtime))
    s = get(server, sandbox_id)
    assert s.status == common.SANDBOX_STATUS_PENDING and s.labels["team"] == "a"
    expected = common.RUNTIME_TYPE_DOCKER if runtime == "docker" else common.RUNTIME_TYPE_BWRAP
    assert s.created_at.seconds > 0 and s.runtime == expected
    assert s.expires_at.seconds > s.created_at.seconds  # sandbox.default_expiration
    with pytest.raises(grpc.RpcError) as e:
        run(server, sandbox_id, "true")
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(e.value) == "SANDBOX_NOT_RUNNING"
    s = server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
    assert s.status == common.SANDBOX_STATUS_RUNNING and s.started_at.seconds > 0
    assert run(server, sandbox_id, "echo up").stdout == "up\n"
    s = server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
    assert s.status == common.SANDBOX_STATUS_STOPPED and s.stopped_at.seconds > 0
    with pytest.raises(grpc.RpcError) as e:
        run(server, sandbox_id, "true")
    assert reason_of(e.value) == "SANDBOX_NOT_RUNNING"
    server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
    assert run(server, sandbox_id, "echo again").stdout == "again\n"
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    with pytest.raises(grpc.RpcError) as e:
        get(server, sandbox_id)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(e.value) == "SANDBOX_NOT_FOUND"


def test_list_sandboxes_by_codebase_paginates(server, codebase):
    ids = {make_sandbox(server, codebase, start=False) for _ in range(3)}
    seen, token = [], ""
    while True:
        page = server.sandboxes.ListSandboxes(sb.ListSandboxesRequest(
            codebase_id=codebase, page_size=2, page_token=token))
        seen += [s.id for s in page.sandboxes]
        token = page.next_page_token
        if not token:
            break
    assert set(seen) == ids and len(seen) == 3
    for sandbox_id in ids:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_exec_result_fields(server, sandbox):
    r = run(server, sandbox, "cat; echo out; echo err >&2; exit 7", stdin="from stdin\n",
            env={"GREETING": "hi"})
    assert (r.stdout, r.stderr, r.exit_code) == ("from stdin\nout\n", "err\n", 7)
    assert r.duration.seconds > 0 or r.duration.nanos > 0
    r = run(server, sandbox, "echo $GREETING; pwd", env={"GREETING": "hi"}, workdir="src")
    assert r.stdout == "hi\n/workspace/src\n"


def test_timeout_carries_the_tail_of_what_the_command_printed(server, sandbox):
    """Issue 15 item 5: the output before the kill is not thrown away; gRPC carries the
    last 2 KiB of each stream (clients refuse larger metadata), cut at a UTF-8 boundary."""
    with pytest.raises(grpc.RpcError) as e:
        run(server, sandbox, "seq 100000; printf 'ééé\\n'; echo oops >&2; sleep 30",
            timeout=Duration(seconds=1))
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    attached = dict(e.value.trailing_metadata())["agentfense-exec-result-bin"]
    partial = sb.ExecResult.FromString(attached)
    assert partial.stdout.endswith("99999\n100000\nééé\n"), partial.stdout[-100:]
    assert 1900 < len(partial.stdout.encode()) <= 2048 and partial.stdout_truncated
    assert partial.stderr == "oops\n" and not partial.stderr_truncated
    assert partial.exit_code == 137


def test_exec_environment_is_clean(server, sandbox):
    r = run(server, sandbox, "env")
    assert "AGENTFENSE" not in r.stdout and "PATH=" in r.stdout


def test_timeout_kills_tree_and_reports_deadline(server, sandbox):
    started = time.time()
    with pytest.raises(grpc.RpcError) as e:
        run(server, sandbox, "sleep 1000 & sleep 1000", timeout=Duration(seconds=1))
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert reason_of(e.value) == "COMMAND_TIMEOUT"
    assert time.time() - started < 20
    assert "sleep 1000" not in run(server, sandbox, "ps -eo args").stdout


def test_timeout_above_max_is_invalid(server, sandbox):
    with pytest.raises(grpc.RpcError) as e:
        run(server, sandbox, "true", timeout=Duration(seconds=3600))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_timeout" in e.value.details()


def test_output_beyond_cap_is_truncated_and_says_so(server, sandbox):
    r = run(server, sandbox, "head -c 3000000 /dev/zero; echo done >&2")
    assert r.stdout_truncated and len(r.stdout) == 1024 * 1024
    assert not r.stderr_truncated and r.stderr == "done\n"


def test_exec_stream_sends_chunks_as_they_come(server, sandbox):
    started = time.time()
    arrivals = []
    for out in server.sandboxes.ExecStream(sb.ExecRequest(
            sandbox_id=sandbox, command="echo first; echo warn >&2; sleep 1.5; echo second; exit 3")):
        arrivals.append((time.time() - started, out))
    types = [o.type for _, o in arrivals]
    assert types[-1] == sb.ExecOutput.OUTPUT_TYPE_EXIT and arrivals[-1][1].exit_code == 3
    stdout = b"".join(o.data for _, o in arrivals if o.type == sb.ExecOutput.OUTPUT_TYPE_STDOUT)
    stderr = b"".join(o.data for _, o in arrivals if o.type == sb.ExecOutput.OUTPUT_TYPE_STDERR)
    assert (stdout, stderr) == (b"first\nsecond\n", b"warn\n")
    first_at = next(t for t, o in arrivals if o.data.startswith(b"first"))
    assert arrivals[-1][0] - first_at > 1.0, "first chunk must arrive before the command ends"


def test_secrets_do_not_exist_and_view_is_name_only(server, codebase, runtime):
    sandbox_id = make_sandbox(server, codebase,
                              rules=AGENT_SAFE + [rule("/docs/api.md", "view", 50, "FILE")],
                              **runtime_kw(runtime))
    try:
        r = run(server, sandbox_id, "ls -a")
        assert ".env" not in r.stdout.split() and "deploy.pem" not in r.stdout
        r = run(server, sandbox_id, "cat .env")
        assert r.exit_code != 0 and "No such file" in r.stderr
        r = run(server, sandbox_id, f"grep -rs {SECRET} /workspace /etc /tmp; echo rc=$?",
                timeout=Duration(seconds=120))
        assert SECRET not in r.stdout
        r = run(server, sandbox_id, "ls docs; cat docs/api.md")
        assert "api.md" in r.stdout and "Permission denied" in r.stderr
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_writes_sync_to_codebase_after_each_command(server, codebase, sandbox):
    from server_harness import cb
    before = server.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=codebase)).file_count
    r = run(server, sandbox, "echo fresh > output/new.txt && echo changed > output/report.txt")
    assert r.exit_code == 0, r.stderr
    assert download(server, codebase, "output/new.txt") == b"fresh\n"
    assert download(server, codebase, "output/report.txt") == b"changed\n"
    changes = server.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox))
    assert list(changes.changes) == []
    deadline = time.time() + 10  # the codebase's figures are recounted in the background
    while server.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=codebase)).file_count \
            != before + 1 and time.time() < deadline:
        time.sleep(0.05)
    assert server.codebases.GetCodebase(
        cb.GetCodebaseRequest(codebase_id=codebase)).file_count == before + 1
    r = run(server, sandbox, "echo x > README.md")
    assert r.exit_code != 0 and download(server, codebase, "README.md").startswith(b"# Sample")


def test_manual_sync_review_commit_and_discard(server, codebase, runtime):
    sandbox_id = make_sandbox(server, codebase, sync_mode=common.SYNC_MODE_MANUAL,
                              **runtime_kw(runtime))
    try:
        run(server, sandbox_id, "echo a > output/a.txt; echo b > output/b.txt; rm output/report.txt")
        changes = server.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox_id))
        kinds = {c.path: c.kind for c in changes.changes}
        assert kinds == {"/output/a.txt": sb.CHANGE_KIND_ADDED, "/output/b.txt": sb.CHANGE_KIND_ADDED,
                         "/output/report.txt": sb.CHANGE_KIND_DELETED}
        with pytest.raises(grpc.RpcError):
            download(server, codebase, "output/a.txt")  # nothing reached the codebase yet
        diff = server.sandboxes.DiffChanges(sb.DiffChangesRequest(sandbox_id=sandbox_id,
                                                                  paths=["/output/a.txt"]))
        assert "+a" in diff.diff and "b.txt" not in diff.diff
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(
            sandbox_id=sandbox_id, paths=["/output/a.txt"]))
        assert list(result.applied) == ["/output/a.txt"]
        assert download(server, codebase, "output/a.txt") == b"a\n"
        server.sandboxes.DiscardChanges(sb.DiscardChangesRequest(sandbox_id=sandbox_id))
        assert list(server.sandboxes.ListChanges(
            sb.ListChangesRequest(sandbox_id=sandbox_id)).changes) == []
        r = run(server, sandbox_id, "ls output; cat output/a.txt")
        assert "b.txt" not in r.stdout and "report.txt" in r.stdout and "a\n" in r.stdout
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_sandboxes_on_one_codebase_see_each_others_commits(server, codebase, runtime):
    # b runs on each runtime; a bwrap sandbox's commit refreshes a container's view too.
    a = make_sandbox(server, codebase)
    b = make_sandbox(server, codebase, **runtime_kw(runtime))
    try:
        assert "shared.txt" not in run(server, b, "ls output; cat output/shared.txt").stdout
        run(server, a, "echo from-a > output/shared.txt")
        r = run(server, b, "ls output; cat output/shared.txt")
        assert "from-a" in r.stdout, r.stderr
        upload(server, codebase, "output/uploaded.txt", b"via upload\n")
        assert run(server, b, "cat output/uploaded.txt").stdout == "via upload\n"
    finally:
        for s in (a, b):
            server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=s))


def test_sandbox_scoped_files_follow_the_rules(server, codebase, sandbox):
    with pytest.raises(grpc.RpcError) as e:
        server.sandboxes.ReadSandboxFile(sb.ReadSandboxFileRequest(sandbox_id=sandbox, path=".env"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    missing = None
    try:
        server.sandboxes.ReadSandboxFile(sb.ReadSandboxFileRequest(sandbox_id=sandbox, path="nope"))
    except grpc.RpcError as err:
        missing = err
    assert missing.code() == grpc.StatusCode.NOT_FOUND and missing.details().replace(
        "nope", ".env") == e.value.details(), "hidden must read exactly like absent"
    got = server.sandboxes.ReadSandboxFile(sb.ReadSandboxFileRequest(sandbox_id=sandbox, path="README.md"))
    assert got.content.startswith(b"# Sample") and got.info.permission == common.PERMISSION_READ
    with pytest.raises(grpc.RpcError) as e:
        server.sandboxes.WriteSandboxFile(sb.WriteSandboxFileRequest(
            sandbox_id=sandbox, path="README.md", content=b"x"))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = server.sandboxes.WriteSandboxFile(sb.WriteSandboxFileRequest(
        sandbox_id=sandbox, path="/output/api.txt", content=b"written"))
    assert info.size == 7
    assert download(server, codebase, "output/api.txt") == b"written"
    listing = server.sandboxes.ListSandboxFiles(sb.ListSandboxFilesRequest(
        sandbox_id=sandbox, path="/", recursive=True))
    paths = {f.path for f in listing.files}
    assert "/README.md" in paths and "/output/api.txt" in paths
    assert not any(".env" in p or "secrets" in p or p.endswith(".pem") for p in paths)
    with pytest.raises(grpc.RpcError) as e:
        server.sandboxes.ReadSandboxFile(sb.ReadSandboxFileRequest(sandbox_id=sandbox, path="../etc/passwd"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def strict_server():
    yield from serving("af-strict-",
                       config="sandbox:\n  max_per_user: 2\n  cleanup_interval: 500ms\n")


def test_max_per_user(strict_server):
    codebase_id = make_codebase(strict_server, files={"a": b"1"}, owner=f"q-{uuid.uuid4().hex[:6]}")
    ids = [make_sandbox(strict_server, codebase_id, start=False) for _ in range(2)]
    with pytest.raises(grpc.RpcError) as e:
        make_sandbox(strict_server, codebase_id, start=False)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_per_user" in e.value.details()
    strict_server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=ids[0]))
    make_sandbox(strict_server, codebase_id, start=False)


def test_expired_sandboxes_are_reaped(strict_server):
    codebase_id = make_codebase(strict_server, files={"a": b"1"})
    sandbox_id = make_sandbox(strict_server, codebase_id, expires_in=Duration(seconds=1))
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            get(strict_server, sandbox_id)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND
            return
        time.sleep(0.2)
    raise AssertionError("expired sandbox was not destroyed")


def test_stop_kills_commands_in_flight(server, codebase, runtime):
    import threading
    sandbox_id = make_sandbox(server, codebase, **runtime_kw(runtime))
    outcome = {}

    def long_command():
        try:
            run(server, sandbox_id, "echo partial > output/p.txt; sleep 300")
        except grpc.RpcError as error:
            outcome["error"] = error
    worker = threading.Thread(target=long_command)
    worker.start()
    time.sleep(1.5)
    server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
    worker.join(timeout=30)
    try:
        assert not worker.is_alive(), "the command outlived its sandbox"
        assert outcome["error"].code() == grpc.StatusCode.ABORTED
        with pytest.raises(grpc.RpcError):
            download(server, codebase, "output/p.txt")  # half-done work is not synced
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
