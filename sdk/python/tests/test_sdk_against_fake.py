"""Sandbox, AsyncSandbox and both clients against the in-process fake server (real
gRPC over loopback): lifecycle, cleanup on errors and Ctrl-C, the error contract, import
fallback and upload contents. No AgentFense binary needed."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Iterator, List

import pytest

from agentfense import (AsyncSandbox, AsyncSandboxClient, CodebaseNotFoundError,
                        CommandExecutionError, CommandTimeoutError, ConnectionError,
                        FileChangedError, FileNotFoundError, InvalidConfigurationError,
                        RuntimeUnavailableError, Sandbox, SandboxClient, SandboxNotFoundError,
                        SandboxNotRunningError, SandboxStatus, UploadProgress)
from fake_server import FakeServer


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "main.py").write_text("print('hi')\n")
    (tmp_path / "tool.sh").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "tool.sh", 0o755)
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to("main.py")
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    (tmp_path / "junk.pyc").write_bytes(b"\0")
    return tmp_path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_from_local_uploads_runs_and_cleans_up(fake: FakeServer, project: Path) -> None:
    with Sandbox.from_local(project, preset="agent-safe", endpoint=fake.endpoint,
                            permissions=[{"pattern": "/docs/**", "permission": "write"}],
                            labels={"who": "test"}) as sandbox:
        assert sandbox.status is SandboxStatus.RUNNING
        codebase = fake.state.codebases[sandbox.codebase_id]
        assert set(codebase.members) == {".gitignore", "main.py", "tool.sh", "empty", "link"}
        assert codebase.members["tool.sh"].mode == 0o755
        assert codebase.members["link"].issym()
        sent = fake.state.sandboxes[sandbox.id]
        assert sent.permissions[-1].pattern == "/docs/**"  # user rules after the preset's
        assert sent.permissions[0].pattern == "**/*" and dict(sent.labels) == {"who": "test"}
        result = sandbox.run("echo hello", timeout=5)
        assert result.stdout == "hello\n" and result.success and result.command == "echo hello"
        assert sandbox.read_file("/main.py") == "print('hi')\n"
    assert fake.state.sandboxes == {} and fake.state.codebases == {}


def test_context_exit_on_exception_and_ctrl_c_cleans_up(fake: FakeServer, project: Path) -> None:
    with pytest.raises(RuntimeError):
        with Sandbox.from_local(project, endpoint=fake.endpoint):
            raise RuntimeError("agent crashed")
    with pytest.raises(KeyboardInterrupt):
        with Sandbox.from_local(project, endpoint=fake.endpoint):
            raise KeyboardInterrupt
    assert fake.state.sandboxes == {} and fake.state.codebases == {}


def test_failed_start_removes_what_was_created(fake: FakeServer, project: Path) -> None:
    fake.state.fail_start = True
    with pytest.raises(RuntimeUnavailableError, match="bwrap"):
        Sandbox.from_local(project, endpoint=fake.endpoint)
    assert fake.state.sandboxes == {} and fake.state.codebases == {}


def test_bad_rules_fail_before_anything_is_created(fake: FakeServer, project: Path) -> None:
    with pytest.raises(InvalidConfigurationError, match="'sometimes'"):
        Sandbox.from_local(project, endpoint=fake.endpoint,
                           permissions=[{"pattern": "/x", "permission": "sometimes"}])
    with pytest.raises(InvalidConfigurationError, match=r"invalid rule '\[oops'"):
        Sandbox.from_local(project, endpoint=fake.endpoint, permissions=[{"pattern": "[oops", "permission": "read"}])
    assert fake.state.codebases == {}


def test_import_is_used_when_the_server_allows_it(fake: FakeServer, project: Path) -> None:
    fake.state.allow_import = True
    with Sandbox.from_local(project, endpoint=fake.endpoint) as sandbox:
        assert fake.state.codebases[sandbox.codebase_id].imported_from == str(project.resolve())
    with Sandbox.from_local(project, endpoint=fake.endpoint, import_mode="never") as sandbox:
        assert fake.state.codebases[sandbox.codebase_id].imported_from == ""
    fake.state.allow_import = False
    with pytest.raises(Exception, match="import is not enabled"):
        Sandbox.from_local(project, endpoint=fake.endpoint, import_mode="always")


def test_exec_errors_and_streams(fake: FakeServer, project: Path) -> None:
    with Sandbox.from_local(project, endpoint=fake.endpoint) as sandbox:
        assert sandbox.run("fail").exit_code == 3
        with pytest.raises(CommandExecutionError) as failure:
            sandbox.run("fail", raise_on_error=True)
        assert failure.value.exit_code == 3 and failure.value.stderr == "it failed\n"
        with pytest.raises(CommandTimeoutError) as timeout:
            sandbox.run("sleep 5", timeout=0.2)
        assert timeout.value.command == "sleep 5" and timeout.value.timeout == 0.2
        assert timeout.value.stdout == "went to sleep\n" and timeout.value.stderr == "zzz\n"
        chunks = list(sandbox.exec_stream("echo streamed"))
        assert [c.kind for c in chunks] == ["stdout", "stderr", "exit"]
        assert chunks[0].text == "streamed\n" and chunks[-1].exit_code == 0
        with sandbox.session() as session:
            assert session.exec("echo in-session").stdout == "in-session\n"
            session_id = session.id
        assert session_id not in fake.state.sessions
        with pytest.raises(FileNotFoundError, match="no such file"):
            sandbox.read_file("/absent")
        sandbox.stop()
        with pytest.raises(SandboxNotRunningError):
            sandbox.run("echo no")
        assert sandbox.refresh().status is SandboxStatus.STOPPED


def test_connect_and_not_found(fake: FakeServer, project: Path) -> None:
    with Sandbox.from_local(project, endpoint=fake.endpoint) as owner:
        with Sandbox.connect(owner.id, endpoint=fake.endpoint) as attached:
            assert attached.run("echo x").stdout == "x\n"
        assert owner.id in fake.state.sandboxes  # connect does not destroy by default
    with pytest.raises(SandboxNotFoundError):
        Sandbox.connect("sb-404", endpoint=fake.endpoint)
    with pytest.raises(CodebaseNotFoundError):
        Sandbox.from_codebase("cb-404", endpoint=fake.endpoint)


def test_server_down_is_a_connection_error_with_the_endpoint(project: Path) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError) as error:
        Sandbox.from_local(project, endpoint=endpoint)
    assert error.value.endpoint == endpoint
    with SandboxClient(endpoint) as client, pytest.raises(ConnectionError):
        client.list_sandboxes()


def test_client_lists_and_destroy(fake: FakeServer, project: Path) -> None:
    with Sandbox.from_local(project, endpoint=fake.endpoint) as sandbox, \
            SandboxClient(fake.endpoint) as client:
        assert [info.id for info in client.list_sandboxes()] == [sandbox.id]
        sandbox.destroy()
        assert client.list_sandboxes() == []


def test_async_surface(fake: FakeServer, project: Path) -> None:
    async def scenario() -> None:
        async with await AsyncSandbox.from_local(project, preset="read-only",
                                                 endpoint=fake.endpoint) as sandbox:
            assert (await sandbox.run("echo hi")).stdout == "hi\n"
            chunks = [chunk async for chunk in sandbox.exec_stream("echo s")]
            assert chunks[-1].is_exit
            async with sandbox.session() as session:
                assert (await session.exec("echo t")).stdout == "t\n"
            session = await sandbox.session()
            await session.close()
            with pytest.raises(CommandTimeoutError) as timeout:
                await sandbox.run("sleep 5", timeout=0.2)
            assert timeout.value.stdout == "went to sleep\n"
            with pytest.raises(FileNotFoundError):
                await sandbox.read_file("/nope")
            await sandbox.stop()
            with pytest.raises(SandboxNotRunningError):
                await sandbox.run("echo no")
        with pytest.raises(SandboxNotFoundError):
            await AsyncSandbox.connect("sb-404", endpoint=fake.endpoint)
    asyncio.run(scenario())
    assert fake.state.sandboxes == {} and fake.state.codebases == {}


def test_async_cleanup_on_exception(fake: FakeServer, project: Path) -> None:
    async def scenario() -> None:
        async with await AsyncSandbox.from_local(project, endpoint=fake.endpoint):
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        asyncio.run(scenario())
    assert fake.state.sandboxes == {} and fake.state.codebases == {}


def test_what_an_upload_body_raises_reaches_the_caller_as_itself(fake: FakeServer) -> None:
    """gRPC swallows what the request stream raises and cancels the call; the caller
    must get the error itself, not "Exception iterating requests!" or, under asyncio,
    a CancelledError."""
    def chunks() -> Iterator[bytes]:
        yield bytes(512)
        raise ValueError("the caller's chunk source failed")

    with SandboxClient(fake.endpoint) as client:
        codebase = client.create_codebase("failing")
        with pytest.raises(ValueError, match="chunk source failed"):
            client.upload_archive(codebase.id, chunks())

    async def upload_async() -> None:
        async with AsyncSandboxClient(fake.endpoint) as client:
            await client.upload_archive(codebase.id, chunks())
    with pytest.raises(ValueError, match="chunk source failed"):
        asyncio.run(upload_async())


def test_a_file_changed_during_an_upload_fails_it_with_an_error_naming_the_file(
        fake: FakeServer, tmp_path: Path) -> None:
    """The outside sweep's B7, end to end: a file swapped for a symlink after the walk
    fails the upload, in both clients, with a FileChangedError naming it, and the
    server gets nothing of the file the symlink points to."""
    secret = tmp_path / "secret.txt"
    secret.write_text("HOST-ONLY-SECRET")
    project = tmp_path / "project"
    project.mkdir()
    (project / "a-big.bin").write_bytes(bytes(3 << 20))  # several chunks, sent first
    notes = project / "notes.txt"

    def swap_after_the_first_chunk(progress: UploadProgress) -> None:
        if not notes.is_symlink():
            notes.unlink()
            notes.symlink_to(secret)

    def upload_sync() -> None:
        with SandboxClient(fake.endpoint) as client:
            codebase = client.create_codebase("swapped")
            client.upload_directory(codebase.id, project, progress=swap_after_the_first_chunk)

    async def upload_async() -> None:
        async with AsyncSandboxClient(fake.endpoint) as client:
            codebase = await client.create_codebase("swapped")
            await client.upload_directory(codebase.id, project,
                                          progress=swap_after_the_first_chunk)

    for upload in (upload_sync, lambda: asyncio.run(upload_async())):
        if notes.is_symlink():
            notes.unlink()
        notes.write_text("harmless notes")
        with pytest.raises(FileChangedError, match="changed while it was uploaded") as raised:
            upload()
        assert raised.value.path == str(notes)
    assert not any(b"HOST-ONLY" in content for codebase in fake.state.codebases.values()
                   for content in codebase.contents.values())


def test_progress_is_complete_when_the_server_answers_before_the_stream_ends(
        fake: FakeServer, project: Path) -> None:
    """A server may reply as soon as it has what it needs; every report must have been
    made by the time upload_directory returns."""
    fake.state.answer_uploads_early = True
    for attempt in range(20):
        seen: List[UploadProgress] = []
        with SandboxClient(fake.endpoint) as client:
            codebase = client.create_codebase("early")
            client.upload_directory(codebase.id, project, progress=seen.append)
        assert seen and seen[-1].done, f"attempt {attempt}: {seen}"

    async def upload() -> List[UploadProgress]:
        seen: List[UploadProgress] = []
        async with AsyncSandboxClient(fake.endpoint) as client:
            codebase = await client.create_codebase("early")
            await client.upload_directory(codebase.id, project, progress=seen.append)
        return seen
    assert asyncio.run(upload())[-1].done


def test_fifty_async_sandboxes_in_one_loop(fake: FakeServer, project: Path) -> None:
    async def one(client: AsyncSandboxClient, index: int) -> str:
        async with await AsyncSandbox.from_local(project, endpoint=fake.endpoint,
                                                 client=client) as sandbox:
            return (await sandbox.run(f"echo {index}")).stdout

    async def scenario() -> List[str]:
        async with AsyncSandboxClient(fake.endpoint) as client:
            return await asyncio.gather(*(one(client, i) for i in range(50)))
    assert asyncio.run(scenario()) == [f"{i}\n" for i in range(50)]
    assert fake.state.sandboxes == {} and fake.state.codebases == {}
