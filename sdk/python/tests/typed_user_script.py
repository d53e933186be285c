"""A user's program written against the documented API, for test_wheel.py: it must
pass `mypy --strict` with only the installed wheel to go by, and run against a real
server from a fresh virtualenv. Usage: python typed_user_script.py PROJECT_DIR (the
server at $AGENTFENSE_ENDPOINT)."""

import asyncio
import sys
from typing import List

from agentfense import (AsyncSandbox, AsyncSandboxClient, CommandExecutionError,
                        CommandTimeoutError, ExecResult, PermissionDeniedError, PermissionRule,
                        Sandbox, SandboxClient, SandboxNotRunningError, SandboxStatus, SyncMode,
                        UploadProgress, extend_preset, list_presets)


def first_sandbox(project: str) -> None:
    with Sandbox.from_local(project) as sandbox:
        result: ExecResult = sandbox.run("cat main.py", timeout=30)
        assert result.success and "hello" in result.stdout
        assert ".env" not in sandbox.run("ls -a").stdout
        sandbox.run("echo done > output/report.txt", raise_on_error=True)


def rules_errors_and_review(project: str) -> None:
    assert "agent-safe" in list_presets()
    rules: List[PermissionRule] = extend_preset(
        "agent-safe", additions=[{"pattern": "/src/**", "permission": "write"}],
        overrides=[{"pattern": "/.env", "permission": "read"}])
    with Sandbox.from_local(project, permissions=rules, sync_mode=SyncMode.MANUAL) as sandbox:
        with sandbox.session() as shell:
            shell.exec("cd src && export MODE=test")
            assert shell.exec("pwd; echo $MODE").stdout.split() == ["/workspace/src", "test"]
        chunks = list(sandbox.exec_stream("echo streamed"))
        assert chunks[-1].is_exit and chunks[0].text == "streamed\n"
        try:
            sandbox.run("echo out; exit 3", raise_on_error=True)
        except CommandExecutionError as failed:
            assert (failed.exit_code, failed.stdout) == (3, "out\n")
        else:
            raise AssertionError("not raised")
        try:
            sandbox.run("sleep 10", timeout=1)
        except CommandTimeoutError as timeout:
            assert (timeout.command, timeout.timeout) == ("sleep 10", 1.0)
        else:
            raise AssertionError("not raised")
        try:
            sandbox.write_file("/main.py", "x")
        except PermissionDeniedError as denied:
            assert denied.path == "/main.py"
        else:
            raise AssertionError("not raised")
        sandbox.run("echo more >> src/app.py", raise_on_error=True)
        assert [change.path for change in sandbox.list_changes()] == ["/src/app.py"]
        assert sandbox.commit().applied == ["/src/app.py"]
        sandbox.stop()
        try:
            sandbox.run("ls")
        except SandboxNotRunningError as stopped:
            assert stopped.current_status is SandboxStatus.STOPPED
        else:
            raise AssertionError("not raised")


def upload(project: str) -> None:
    seen: List[UploadProgress] = []
    with SandboxClient() as client:
        codebase = client.create_codebase("typed-user")
        client.upload_directory(codebase.id, project, ignore_patterns=["*.log"],
                                progress=seen.append)
        client.delete_codebase(codebase.id)
    assert seen[-1].done and seen[-1].files_done == seen[-1].files_total


async def many_agents(project: str) -> List[str]:
    async def agent(client: AsyncSandboxClient, n: int) -> str:
        async with await AsyncSandbox.from_local(project, client=client) as sandbox:
            async with sandbox.session() as shell:
                await shell.exec(f"export AGENT={n}")
                return (await shell.exec("echo $AGENT")).stdout.strip()
    async with AsyncSandboxClient() as client:
        return list(await asyncio.gather(*(agent(client, n) for n in range(10))))


def main() -> None:
    project = sys.argv[1]
    first_sandbox(project)
    rules_errors_and_review(project)
    upload(project)
    assert asyncio.run(many_agents(project)) == [str(n) for n in range(10)]
    print("typed user script: ok")


if __name__ == "__main__":
    main()
