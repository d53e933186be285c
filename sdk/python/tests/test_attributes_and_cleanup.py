"""Issue 11 item 3 against the real server, with both APIs: what the exceptions say
about the failed call, cleanup that does not fail on what is already gone, the default
rules of from_local, and upload_directory with its progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, List

import pytest

from agentfense import (CommandTimeoutError, PermissionDeniedError, SandboxNotFoundError,
                        SandboxNotRunningError, SandboxStatus, UploadProgress)
from api_flavours import Api
from conftest import SECRET, RunningServer


@pytest.fixture
def sandbox(api: Api, agentfense_server: RunningServer, project: Path) -> Iterator[Any]:
    with api.Sandbox.from_local(project, preset="agent-safe",
                                endpoint=agentfense_server.endpoint,
                                permissions=[{"pattern": "/docs/**", "permission": "view",
                                              "priority": 50}]) as created:
        yield created


def test_permission_denied_names_the_path(sandbox: Any) -> None:
    with pytest.raises(PermissionDeniedError) as write:
        sandbox.write_file("/main.py", "x")
    assert write.value.path == "/main.py"
    with pytest.raises(PermissionDeniedError) as read:
        sandbox.read_file("/docs/guide.md")  # view: listed, not readable
    assert read.value.path == "/docs/guide.md"


def test_not_running_says_the_current_status(api: Api, agentfense_server: RunningServer,
                                             project: Path) -> None:
    with api.Sandbox.from_local(project, endpoint=agentfense_server.endpoint,
                                auto_start=False) as sandbox:
        with pytest.raises(SandboxNotRunningError) as pending:
            sandbox.run("true")
        assert pending.value.current_status is SandboxStatus.PENDING
        assert pending.value.current_status == "pending"  # the documents compare strings
        sandbox.start()
        sandbox.stop()
        with pytest.raises(SandboxNotRunningError) as stopped:
            sandbox.run("true")
        assert stopped.value.current_status == "stopped"
        with pytest.raises(SandboxNotRunningError) as in_session:
            sandbox.session()
        assert in_session.value.current_status == "stopped"


def test_timeout_names_the_command_and_its_timeout(sandbox: Any) -> None:
    with pytest.raises(CommandTimeoutError) as timeout:
        sandbox.run("echo started; sleep 30", timeout=1)
    assert timeout.value.command == "echo started; sleep 30" and timeout.value.timeout == 1.0
    assert isinstance(timeout.value.stdout, str) and isinstance(timeout.value.stderr, str)


def test_timeout_keeps_the_output_printed_before_it(sandbox: Any) -> None:
    with pytest.raises(CommandTimeoutError) as timeout:
        sandbox.run("echo started; echo oops >&2; sleep 30", timeout=1)
    assert timeout.value.stdout == "started\n" and timeout.value.stderr == "oops\n"
    # In a session too, and only the tail of a long output (gRPC metadata is small).
    with sandbox.session() as session:
        with pytest.raises(CommandTimeoutError) as timeout:
            session.run("seq 100000; echo last; sleep 30", timeout=1)
    assert timeout.value.stdout.endswith("99999\n100000\nlast\n")
    assert 0 < len(timeout.value.stdout) <= 2048


def test_cleanup_of_what_is_already_gone_is_not_an_error(
        api: Api, agentfense_server: RunningServer, project: Path) -> None:
    endpoint = agentfense_server.endpoint
    with api.SandboxClient(endpoint) as client:
        # Destroyed behind the handle's back: leaving the block still succeeds, and the
        # codebase it uploaded is deleted.
        with api.Sandbox.from_local(project, endpoint=endpoint) as sandbox:
            codebase_id = sandbox.codebase_id
            client.destroy_sandbox(sandbox.id)
        assert codebase_id not in {c.id for c in client.list_codebases()}
        # destroy(), again, then close() and the context exit: one release.
        with api.Sandbox.from_local(project, endpoint=endpoint) as sandbox:
            with sandbox.session() as session:
                sandbox.destroy()
                sandbox.destroy()
                sandbox.close()
                session.close()  # its sandbox is gone
                session.close()
        # Its codebase deleted meanwhile: close() still succeeds.
        sandbox = api.Sandbox.from_local(project, endpoint=endpoint)
        client.destroy_sandbox(sandbox.id)
        client.delete_codebase(sandbox.codebase_id)
        sandbox.close()
        # The low-level client still says when an id is unknown.
        with pytest.raises(SandboxNotFoundError):
            client.destroy_sandbox(sandbox.id)


def test_from_local_without_rules_applies_agent_safe(api: Api, agentfense_server: RunningServer,
                                                     project: Path) -> None:
    with api.Sandbox.from_local(project, endpoint=agentfense_server.endpoint) as sandbox:
        assert [rule.pattern for rule in sandbox.info.permissions][:3] == \
            ["**/*", "/output/**", "/tmp/**"]
        listing = sandbox.run("ls -a").stdout.split()
        assert ".env" not in listing and "deploy.pem" not in listing
        assert SECRET not in sandbox.run("cat README.md main.py; grep -r SECRET . ; true").stdout
        assert sandbox.run("python3 main.py").stdout == "hello from main\n"
        assert sandbox.run("echo r > output/new.txt && cat output/new.txt").stdout == "r\n"
        assert "Permission denied" in sandbox.run("echo x >> main.py").stderr


def test_upload_directory_reports_progress(api: Api, agentfense_server: RunningServer,
                                           project: Path) -> None:
    (project / "big.bin").write_bytes(b"x" * (3 << 20))  # several chunks
    seen: List[UploadProgress] = []
    with api.SandboxClient(agentfense_server.endpoint) as client:
        codebase = client.create_codebase("progress")
        try:
            result = client.upload_directory(codebase.id, project, ignore_patterns=["docs/"],
                                             progress=seen.append)
            listing = client.list_files(codebase.id, "/", recursive=True)
        finally:
            client.delete_codebase(codebase.id)
    files = {info.path for info in listing}
    assert "/big.bin" in files and "/main.py" in files
    assert not any(path.startswith("/docs") for path in files)  # ignore_patterns
    assert "/node_modules/dep/index.js" not in files  # .gitignore
    assert len(seen) >= 3 and seen[-1].done
    assert seen[-1].bytes_done == seen[-1].bytes_total > result.bytes >= 3 << 20  # tar > content
    assert seen[-1].files_done == seen[-1].files_total > 5
    assert [p.bytes_done for p in seen] == sorted(p.bytes_done for p in seen)
