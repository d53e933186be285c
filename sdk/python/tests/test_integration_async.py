"""AsyncSandbox against the real server, including many sandboxes in one event loop.
Skipped when the binary has no `server` subcommand."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import List

import pytest

from agentfense import (AsyncSandbox, AsyncSandboxClient, CommandTimeoutError,
                        FileNotFoundError, PermissionDeniedError, SandboxNotFoundError,
                        SandboxNotRunningError)
from conftest import RunningServer


def test_async_surface(agentfense_server: RunningServer, project: Path) -> None:
    async def scenario() -> None:
        async with await AsyncSandbox.from_local(project, preset="agent-safe",
                                                 endpoint=agentfense_server.endpoint) as sandbox:
            listing = (await sandbox.run("ls -a")).stdout.split()
            assert ".env" not in listing and "main.py" in listing
            chunks = [chunk async for chunk in sandbox.exec_stream("echo s; exit 3")]
            assert chunks[-1].exit_code == 3
            async with sandbox.session() as session:
                await session.exec("cd src")
                assert (await session.exec("pwd")).stdout.strip() == "/workspace/src"
            with pytest.raises(CommandTimeoutError):
                await sandbox.run("sleep 30", timeout=1)
            with pytest.raises(FileNotFoundError):
                await sandbox.read_file("/.env")
            with pytest.raises(PermissionDeniedError):
                await sandbox.write_file("/main.py", "x")
            # With the default sync mode a completed write reaches the codebase at once:
            # nothing is left to review.
            await sandbox.write_file("/output/x.txt", "y")
            assert await sandbox.list_changes() == []
            assert await sandbox.read_file("/output/x.txt") == "y"
            await sandbox.stop()
            with pytest.raises(SandboxNotRunningError):
                await sandbox.run("true")
            await sandbox.start()
            sandbox_id = sandbox.id
        async with AsyncSandboxClient(agentfense_server.endpoint) as client:
            with pytest.raises(SandboxNotFoundError):
                await client.get_sandbox(sandbox_id)
    asyncio.run(scenario())


@pytest.mark.parametrize("count", [50])
def test_many_sandboxes_in_one_loop(agentfense_server: RunningServer, tmp_path: Path,
                                    count: int) -> None:
    (tmp_path / "hello.txt").write_text("hi\n")

    async def one(client: AsyncSandboxClient, index: int) -> str:
        async with await AsyncSandbox.from_local(tmp_path, preset="read-only",
                                                 client=client) as sandbox:
            return (await sandbox.run(f"cat hello.txt; echo {index}")).stdout

    async def scenario() -> List[str]:
        async with AsyncSandboxClient(agentfense_server.endpoint) as client:
            return await asyncio.gather(*(one(client, i) for i in range(count)))
    assert asyncio.run(scenario()) == [f"hi\n{i}\n" for i in range(count)]
    # The overlapping cleanups put the Ctrl-C handler back as they found it.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
