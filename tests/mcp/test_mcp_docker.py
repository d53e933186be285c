"""`agentfense mcp --runtime docker --image IMG`: the same tools with every command,
session and file tool running in one container of the image (on a private dockerd with
the test image, tests/docker), the policy holding there as under bubblewrap, and the
container gone when the MCP session ends."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import anyio
import pytest

from mcp_harness import HIDDEN, VIEW_ONLY, stdio_session, structured

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docker"))
from dockerd import TEST_IMAGE, Dockerd, start_with_images  # noqa: E402


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    daemon = start_with_images()
    yield daemon
    daemon.stop()


def test_every_tool_runs_in_one_container_of_the_image(
        agentfense: str, repo: Path, tmp_path: Path, secret: str, dockerd: Dockerd) -> None:
    docker = ["--runtime", "docker", "--image", TEST_IMAGE, "--docker-host", dockerd.host]

    async def main() -> None:
        async with stdio_session(agentfense, repo, tmp_path / "err", *docker) as session:
            [container] = dockerd.containers()
            assert container["Image"] == TEST_IMAGE
            # The image's own /etc/passwd (root and nobody only), not the host's.
            out = structured(await session.call_tool("run", {"command": "cat /etc/passwd; pwd"}))
            assert out["stdout"].splitlines() == [
                "root:x:0:0:root:/root:/bin/sh",
                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin", "/workspace"]
            for tool in ("run", "session_run"):
                out = structured(await session.call_tool(tool, {
                    "command": "ls -aR; grep -r SECRET .; cat .env"}))
                assert secret not in out["stdout"] + out["stderr"], tool
                for hidden in HIDDEN:
                    assert Path(hidden).name not in out["stdout"], (tool, hidden)
            refused = await session.call_tool("read_file", {"path": VIEW_ONLY})
            assert refused.is_error
            # A session keeps its state between calls, in the same container.
            await session.call_tool("session_run", {"command": "cd src; X=kept"})
            out = structured(await session.call_tool("session_run", {"command": "pwd; echo $X"}))
            assert out["stdout"] == "/workspace/src\nkept\n"
            written = await session.call_tool("write_file", {"path": "output/r.txt",
                                                             "content": "from docker\n"})
            assert not written.is_error
            changes: Any = structured(await session.call_tool("changes", {}))
            assert [c["path"] for c in changes["changes"]] == ["/output/r.txt"]
            timed_out = await session.call_tool("run", {"command": "sleep 30", "timeout": 1})
            assert timed_out.is_error
        assert dockerd.containers() == []  # removed with the MCP session
        assert "output/r.txt" in (tmp_path / "err").read_text()  # shown at exit

    anyio.run(main)


def test_docker_flags_are_checked_before_anything_starts(agentfense: str, repo: Path) -> None:
    import subprocess
    for extra, message in ((["--runtime", "docker"], "--runtime docker needs --image IMAGE"),
                           (["--image", TEST_IMAGE], "--image needs --runtime docker"),
                           (["--runtime", "podman"], "--runtime must be bwrap or docker")):
        done = subprocess.run([agentfense, "mcp", "--preset", "agent-safe", *extra, str(repo)],
                              input="", capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and message in done.stderr, (extra, done.stderr)
