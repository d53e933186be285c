"""The SDK against the real server (real bwrap, real FUSE): every Sandbox method, every
exception class where its name says, ignore rules, and the security behaviour as seen
from Python. Each test runs twice, with the blocking API and with the asyncio one (the
``api`` fixture). Skipped when the binary has no `server` subcommand."""

from __future__ import annotations

import socket
import tarfile
import uuid
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from agentfense import (ChangeKind, CodebaseNotFoundError, CommandExecutionError,
                        CommandTimeoutError, ConnectionError, FileNotFoundError,
                        ImageNotFoundError, InvalidConfigurationError, InvalidPathError,
                        Permission, PermissionDeniedError, PolicyWarning, ResourceLimits,
                        ReviewOutdatedError,
                        RuntimeType, RuntimeUnavailableError,
                        SandboxNotFoundError, SandboxNotRunningError,
                        QuotaExceededError, SandboxStatus, SessionClosedError, SessionNotFoundError,
                        SyncMode, UploadProgress)
from api_flavours import Api
from conftest import (MAX_PER_USER, PROJECT_FILES, SECRET, TEST_IMAGE, RunningServer,
                      write_project)


@pytest.fixture
def server(agentfense_server: RunningServer) -> RunningServer:
    return agentfense_server


@pytest.fixture
def sandbox(api: Api, server: RunningServer, project: Path) -> Iterator[Any]:
    with api.Sandbox.from_local(project, preset="agent-safe", endpoint=server.endpoint,
                                permissions=[{"pattern": "/docs/**", "permission": "view",
                                              "priority": 50}]) as created:
        yield created


def test_secrets_are_absent_and_unreadable(sandbox: Any) -> None:
    listing = sandbox.run("ls -a").stdout.split()
    assert ".env" not in listing and "deploy.pem" not in listing and "main.py" in listing
    result = sandbox.run("cat .env")
    assert result.exit_code != 0 and "No such file" in result.stderr
    assert SECRET not in sandbox.run("grep -r SECRET . 2>/dev/null; true").stdout
    with pytest.raises(FileNotFoundError):
        sandbox.read_file("/.env")


def test_view_files_list_but_do_not_read(sandbox: Any) -> None:
    assert "guide.md" in sandbox.run("ls docs").stdout
    result = sandbox.run("cat docs/guide.md")
    assert result.exit_code != 0 and "Permission denied" in result.stderr
    with pytest.raises(PermissionDeniedError):
        sandbox.read_file("/docs/guide.md")
    listed = {info.path: info for info in sandbox.list_files("/docs")}
    assert listed["/docs/guide.md"].permission is Permission.VIEW


def test_upload_honours_ignore_files_and_keeps_file_kinds(sandbox: Any) -> None:
    listing = sandbox.run("ls -a").stdout.split()
    assert "node_modules" not in listing and "notes.private" not in listing
    assert "debug.log" not in listing and "important.log" in listing
    assert "empty-dir" in listing
    assert sandbox.run("./tool.sh", raise_on_error=True).stdout == "tool ran\n"
    assert sandbox.run("readlink main-link.py").stdout.strip() == "main.py"


def test_run_options_and_errors(sandbox: Any) -> None:
    result = sandbox.run("echo $GREETING; pwd", env={"GREETING": "hi"}, workdir="src")
    assert result.stdout.split() == ["hi", "/workspace/src"] and result.success
    assert result.duration.total_seconds() > 0 and result.command.startswith("echo")
    assert sandbox.exec("cat", stdin="piped").stdout == "piped"
    with pytest.raises(CommandExecutionError) as failure:
        sandbox.run("echo bad >&2; exit 4", raise_on_error=True)
    assert failure.value.exit_code == 4 and "bad" in failure.value.stderr
    with pytest.raises(CommandTimeoutError) as timeout:
        sandbox.run("sleep 30", timeout=1)
    assert timeout.value.command == "sleep 30" and timeout.value.timeout == 1.0


def test_command_error_message_escapes_what_the_agent_printed(sandbox: Any) -> None:
    """The last stderr line reaches tracebacks and logs: an OSC 52 in it would set the
    clipboard of whoever reads them. Escaped in the message, raw in ``stderr``."""
    with pytest.raises(CommandExecutionError) as failure:
        sandbox.run("printf 'build failed\\033]52;c;Y3VybAo=\\007\\033[8m' >&2; exit 3",
                    raise_on_error=True)
    message = str(failure.value)
    assert "\x1b" not in message and "\x07" not in message, repr(message)
    assert "build failed\\x1b]52;c;Y3VybAo=\\x07\\x1b[8m" in message, repr(message)
    assert failure.value.stderr == "build failed\x1b]52;c;Y3VybAo=\x07\x1b[8m"


def test_policy_warnings_escape_the_names_they_quote(api: Api, server: RunningServer,
                                                     tmp_path: Path) -> None:
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "secret\x1b]0;PWNED\x07\rX").write_text("x")
    rules = [{"pattern": "**/secret*", "permission": "none"},
             {"pattern": "**/*", "permission": "read"}]
    with pytest.warns(PolicyWarning) as caught:
        with api.Sandbox.from_local(tmp_path, permissions=rules, endpoint=server.endpoint):
            pass
    texts = [str(warning.message) for warning in caught]
    assert texts and not any("\x1b" in text or "\r" in text for text in texts), texts


def test_exec_stream_yields_output_then_exit(sandbox: Any) -> None:
    chunks = list(sandbox.exec_stream("echo out; echo err >&2; exit 2"))
    assert chunks[-1].is_exit and chunks[-1].exit_code == 2
    assert b"".join(c.data for c in chunks if c.kind == "stdout") == b"out\n"
    assert b"".join(c.data for c in chunks if c.kind == "stderr") == b"err\n"


def test_sessions_keep_state(sandbox: Any) -> None:
    with sandbox.session() as session:
        session.exec("cd src && export MARK=42")
        assert session.exec("pwd; echo $MARK").stdout.split() == ["/workspace/src", "42"]
        streamed = list(session.exec_stream("echo again"))
        assert streamed[-1].is_exit and b"again" in b"".join(c.data for c in streamed)
        session_id = session.id
    with pytest.raises(SessionClosedError):
        sandbox.client.session_exec(session_id, "true")
    with pytest.raises(SessionNotFoundError):
        sandbox.client.session_exec("no-such-session", "true")


def test_stop_start_refresh(sandbox: Any) -> None:
    assert sandbox.stop().status is SandboxStatus.STOPPED
    with pytest.raises(SandboxNotRunningError):
        sandbox.run("true")
    assert sandbox.refresh().status is SandboxStatus.STOPPED
    assert sandbox.start().status is SandboxStatus.RUNNING
    assert sandbox.run("python3 main.py").stdout == "hello from main\n"


def test_files_through_the_rules(sandbox: Any) -> None:
    assert sandbox.read_file("/main.py") == PROJECT_FILES["main.py"]
    sandbox.write_file("/output/result.txt", "done\n")
    assert sandbox.run("cat output/result.txt").stdout == "done\n"
    # Default sync mode: a completed write is committed at once, nothing is left over.
    assert sandbox.list_changes() == []
    assert sandbox.client.download_file(sandbox.codebase_id, "/output/result.txt") == b"done\n"
    with pytest.raises(PermissionDeniedError):
        sandbox.write_file("/main.py", "overwritten")
    names = {info.path for info in sandbox.list_files("/", recursive=True)}
    assert "/output/result.txt" in names and "/.env" not in names
    with pytest.raises(InvalidPathError):
        sandbox.read_file("/src")  # a directory


def test_change_review(api: Api, server: RunningServer, project: Path) -> None:
    with api.Sandbox.from_local(project, preset="agent-safe", endpoint=server.endpoint,
                                sync_mode=SyncMode.MANUAL) as sandbox:
        sandbox.run("echo one > output/a.txt; echo two > output/b.txt", raise_on_error=True)
        listed = sandbox.list_changes()
        assert listed.omitted == 0  # a reply lists at most 4 MiB of paths; counts the rest
        changes = {change.path: change.kind for change in listed}
        assert changes == {"/output/a.txt": ChangeKind.ADDED, "/output/b.txt": ChangeKind.ADDED}
        assert "+one" in sandbox.diff(["/output/a.txt"])
        committed = sandbox.commit(["/output/a.txt"])
        assert committed.applied == ["/output/a.txt"] and committed.ok
        assert committed.applied_omitted == committed.denied_omitted == 0
        sandbox.discard()
        assert sandbox.list_changes() == []
        assert sandbox.client.download_file(sandbox.codebase_id, "/output/a.txt") == b"one\n"


def test_a_review_commits_exactly_what_it_showed(api: Api, server: RunningServer,
                                                project: Path) -> None:
    with api.Sandbox.from_local(project, preset="agent-safe", endpoint=server.endpoint,
                                sync_mode=SyncMode.MANUAL) as sandbox:
        sandbox.run("echo one > output/a.txt", raise_on_error=True)
        review = sandbox.review(["/output/a.txt"])
        assert "+one" in review.diff and len(review.token) == 64
        sandbox.run("echo two > output/a.txt", raise_on_error=True)  # after the review
        with pytest.raises(ReviewOutdatedError):
            sandbox.commit(["/output/a.txt"], review_token=review.token)
        assert [change.path for change in sandbox.list_changes()] == ["/output/a.txt"]
        review = sandbox.review(["/output/a.txt"])
        committed = sandbox.commit(["/output/a.txt"], review_token=review.token)
        assert committed.applied == ["/output/a.txt"]


def test_one_path_given_as_a_string_selects_that_path(api: Api, server: RunningServer,
                                                      project: Path) -> None:
    """A string was iterated into its characters, and "/" selects every change: the
    agent's unreviewed edit was committed with the one file the caller named."""
    with api.Sandbox.from_local(project, preset="agent-safe", endpoint=server.endpoint,
                                sync_mode=SyncMode.MANUAL) as sandbox:
        sandbox.run("echo one > output/a.txt; echo sneaky > output/b.txt", raise_on_error=True)
        review = sandbox.review("/output/a.txt")
        assert "+one" in review.diff and "sneaky" not in review.diff
        assert "sneaky" not in sandbox.diff("/output/a.txt")
        committed = sandbox.commit("/output/a.txt", review_token=review.token)
        assert committed.applied == ["/output/a.txt"]
        assert [change.path for change in sandbox.list_changes()] == ["/output/b.txt"]
        with pytest.raises(TypeError):
            sandbox.commit([b"/output/b.txt"])


def test_user_rule_overrides_preset_rule_at_same_priority(api: Api, server: RunningServer,
                                                          project: Path) -> None:
    everything = [{"pattern": "**/*", "permission": "write"}]
    with api.Sandbox.from_local(project, preset="read-only", endpoint=server.endpoint,
                                permissions=everything) as sandbox:
        assert sandbox.run("echo new > src/new.py").success


def test_context_exit_destroys_sandbox_and_codebase(api: Api, server: RunningServer,
                                                    project: Path) -> None:
    with pytest.raises(RuntimeError):
        with api.Sandbox.from_local(project, endpoint=server.endpoint) as sandbox:
            sandbox_id, codebase_id = sandbox.id, sandbox.codebase_id
            raise RuntimeError("agent crashed")
    with api.SandboxClient(server.endpoint) as client:
        with pytest.raises(SandboxNotFoundError):
            client.get_sandbox(sandbox_id)
        with pytest.raises(CodebaseNotFoundError):
            client.get_codebase(codebase_id)


def test_connect_and_lookup_errors(api: Api, server: RunningServer, sandbox: Any) -> None:
    with api.Sandbox.connect(sandbox.id, endpoint=server.endpoint) as attached:
        assert attached.run("echo attached").stdout == "attached\n"
    assert sandbox.refresh().status is SandboxStatus.RUNNING  # connect left it running
    with pytest.raises(SandboxNotFoundError):
        api.Sandbox.connect("no-such-sandbox", endpoint=server.endpoint)
    with pytest.raises(CodebaseNotFoundError):
        api.Sandbox.from_codebase("no-such-codebase", endpoint=server.endpoint)
    with api.Sandbox.from_codebase(sandbox.codebase_id, preset="view-only",
                                   endpoint=server.endpoint) as second:
        assert "main.py" in second.run("ls").stdout


def test_invalid_rule_is_named(api: Api, server: RunningServer, project: Path) -> None:
    with pytest.raises(InvalidConfigurationError, match=r"\[unclosed"):
        api.Sandbox.from_local(project, endpoint=server.endpoint,
                               permissions=[{"pattern": "/[unclosed", "permission": "read"}])


def test_docker_runtime_with_image_and_limits(api: Api, server: RunningServer,
                                             project: Path) -> None:
    with api.Sandbox.from_local(project, endpoint=server.endpoint, runtime=RuntimeType.DOCKER,
                                image=TEST_IMAGE,
                                resources=ResourceLimits(memory_bytes=64 << 20,
                                                         cpu_quota=50000)) as sandbox:
        assert sandbox.info.runtime is RuntimeType.DOCKER and sandbox.info.image == TEST_IMAGE
        assert sandbox.run("python3 main.py").stdout == "hello from main\n"
        assert ".env" not in sandbox.run("ls -a").stdout
        oom = sandbox.run("python3 -c 'bytearray(512 << 20)'")
        assert oom.exit_code == 137 and oom.oom_killed and "out of memory" in oom.reason
        with sandbox.session() as session:
            session.exec("cd src && export X=1")
            assert session.exec("pwd; echo $X").stdout == "/workspace/src\n1\n"


def test_missing_image_is_named(api: Api, server: RunningServer, project: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="no-such-image:1") as error:
        api.Sandbox.from_local(project, endpoint=server.endpoint, runtime=RuntimeType.DOCKER,
                               image="agentfense/no-such-image:1")
    assert isinstance(error.value, RuntimeUnavailableError)  # what callers already catch


def test_server_down_is_a_connection_error(api: Api, project: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        endpoint = f"127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(ConnectionError) as error:
        api.Sandbox.from_local(project, endpoint=endpoint)
    assert error.value.endpoint == endpoint


def test_import_in_place_when_allowed(api: Api, server: RunningServer) -> None:
    root = write_project(server.import_root / f"imported-{api.name}")
    with api.Sandbox.from_local(root, preset="agent-safe", endpoint=server.endpoint) as sandbox:
        info = sandbox.client.get_codebase(sandbox.codebase_id)
        assert info.imported_from == str(root)
        assert sandbox.run("python3 main.py").stdout == "hello from main\n"
    # Deleting the codebase left the imported directory in place.
    assert (root / "main.py").read_text() == PROJECT_FILES["main.py"]


def test_client_codebase_rpcs(api: Api, server: RunningServer) -> None:
    with api.SandboxClient(server.endpoint) as client:
        codebase = client.create_codebase("direct", owner_id="sdk-test")
        client.upload_file(codebase.id, "/dir/a.txt", b"alpha")
        assert client.download_file(codebase.id, "/dir/a.txt") == b"alpha"
        assert [f.path for f in client.list_files(codebase.id, "/dir")] == ["/dir/a.txt"]
        assert codebase.id in {c.id for c in client.list_codebases(owner_id="sdk-test")}
        client.delete_codebase(codebase.id)
        with pytest.raises(CodebaseNotFoundError):
            client.get_codebase(codebase.id)


def test_upload_archive_from_a_file_bytes_and_chunks_reports_progress(
        api: Api, server: RunningServer, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "big.bin").write_bytes(bytes(range(256)) * 12_000)  # 3 MB
    (tree / "pkg" / "small.txt").write_text("small")
    archive = tmp_path / "tree.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname=".")
    data = archive.read_bytes()
    with api.SandboxClient(server.endpoint) as client:
        codebase = client.create_codebase("archive", owner_id="sdk-test")
        try:
            by_path: List[UploadProgress] = []
            client.upload_archive(codebase.id, archive, "/a", progress=by_path.append)
            assert by_path[-1] == UploadProgress(len(data), len(data), 0, 0)
            assert len(by_path) >= 1 and not any(p.done for p in by_path[:-1])

            by_bytes: List[UploadProgress] = []
            client.upload_archive(codebase.id, data, "/b", progress=by_bytes.append)
            assert by_bytes[-1].done and by_bytes[-1].bytes_total == len(data)

            # A stream of unknown size: no fraction until the end, which gives the size.
            chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)]
            streamed: List[UploadProgress] = []
            client.upload_archive(codebase.id, iter(chunks), "/c", progress=streamed.append)
            assert not streamed[0].total_known and not streamed[0].done
            assert streamed[-1] == UploadProgress(len(data), len(data), 0, 0, True)
            assert [p.bytes_done for p in streamed[:-1]] == [
                min(len(data), 4096 * (i + 1)) for i in range(len(chunks))]

            for root in ("/a", "/b", "/c"):
                assert client.download_file(codebase.id, root + "/pkg/small.txt") == b"small"
                assert client.download_file(codebase.id, root + "/pkg/big.bin") == \
                    (tree / "pkg" / "big.bin").read_bytes()
        finally:
            client.delete_codebase(codebase.id)


@pytest.mark.parametrize("sync_mode", [SyncMode.MANUAL, SyncMode.ON_COMMAND_COMPLETE])
def test_rename_over_a_file_is_committed(api: Api, server: RunningServer, project: Path,
                                         sync_mode: SyncMode) -> None:
    source = [{"pattern": "/src/**", "permission": "write"}]
    with api.Sandbox.from_local(project, endpoint=server.endpoint, sync_mode=sync_mode,
                                permissions=source) as sandbox:
        sandbox.run("sed -i 's/1/2/' src/app.py", raise_on_error=True)
        if sync_mode is SyncMode.MANUAL:
            assert sandbox.commit().ok
        assert sandbox.list_changes() == []
        assert sandbox.client.download_file(sandbox.codebase_id, "/src/app.py") == b"VALUE = 2\n"


def test_no_rules_means_nothing_visible(api: Api, server: RunningServer) -> None:
    """The client sends exactly the rules it is given; the server fails closed."""
    with api.SandboxClient(server.endpoint) as client:
        codebase = client.create_codebase("no-rules")
        client.upload_file(codebase.id, "/visible-if-allowed.txt", b"x")
        sandbox = client.create_sandbox(codebase.id, [])
        try:
            client.start_sandbox(sandbox.id)
            assert client.exec(sandbox.id, "ls -A").stdout == ""
        finally:
            client.destroy_sandbox(sandbox.id)
            client.delete_codebase(codebase.id)


def test_quota_exceeded_names_the_limit(api: Api, server: RunningServer) -> None:
    with api.SandboxClient(server.endpoint) as client:
        codebase = client.create_codebase("quota", owner_id=f"quota-{uuid.uuid4().hex[:8]}")
        created = [client.create_sandbox(codebase.id, preset="read-only").id
                   for _ in range(MAX_PER_USER)]
        try:
            with pytest.raises(QuotaExceededError, match="max_per_user"):
                client.create_sandbox(codebase.id, preset="read-only")
        finally:
            for sandbox_id in created:
                client.destroy_sandbox(sandbox_id)
        client.create_sandbox(codebase.id, preset="read-only")  # room again
