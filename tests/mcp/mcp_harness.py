"""Drives `agentfense mcp` for the tests: over stdio with the official client, over
streamable HTTP with the official client, and over raw stdio bytes for the protocol
error cases."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Optional

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

REPO_ROOT = Path(__file__).resolve().parents[2]

# agent-safe plus one view-only file.
VIEW_ONLY = "docs/private.md"
POLICY_ARGS = ["--preset", "agent-safe", "--rule", f"{VIEW_ONLY}=view:50"]

HIDDEN = [".env", "src/.env.local", "config/secrets/db.txt", "keys/server.key", "output/.env"]
VISIBLE = {
    "README.md": "# Sample\n",
    "src/app.py": "print('hello from app')\n",
    "config/settings.yaml": "debug: false\n",
    "output/report.txt": "old report\n",
}

TOOLS = ["run", "session_run", "read_file", "write_file", "list_files", "changes", "diff"]


def agentfense_bin() -> str:
    return os.environ.get("AGENTFENSE_BIN", str(REPO_ROOT / "build" / "agentfense"))


def mcp_args(repo: Path, *extra: str) -> list[str]:
    return ["mcp", *POLICY_ARGS, *extra, str(repo)]


@asynccontextmanager
async def stdio_session(agentfense: str, repo: Path, errlog_path: Path,
                        *extra: str) -> AsyncIterator[ClientSession]:
    """An initialized client session with `agentfense mcp` over stdio; the server's
    stderr (where the changes are shown at exit) goes to errlog_path."""
    params = StdioServerParameters(command=agentfense, args=mcp_args(repo, *extra))
    with open(errlog_path, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


# The endpoint line: the URL, then the header to send (with the token when it was
# generated, else naming $AGENTFENSE_MCP_TOKEN or the token file).
ENDPOINT_LINE = re.compile(r"MCP endpoint at (http://\S+) \(send '(Authorization: Bearer [^']*)'")


def wait_for_endpoint(process: subprocess.Popen[bytes], stderr_path: Path) -> re.Match[str]:
    deadline = time.monotonic() + 30
    while not (match := ENDPOINT_LINE.search(stderr_path.read_text())):
        assert process.poll() is None, stderr_path.read_text()
        assert time.monotonic() < deadline, "no endpoint line on stderr"
        time.sleep(0.05)
    return match


def token_of(match: re.Match[str]) -> str:
    """The token the endpoint line shows (a generated one)."""
    found = re.fullmatch(r"Authorization: Bearer ([0-9a-f]{64})", match.group(2))
    assert found, match.group(0)
    return found.group(1)


class Endpoint:
    """Where an HTTP client sends requests, and the token it sends with them."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class HttpServer(Endpoint):
    """`agentfense mcp --http 127.0.0.1:0` as a subprocess; its url and token are read from
    its stderr (or `token` is given to it in $AGENTFENSE_MCP_TOKEN)."""

    def __init__(self, agentfense: str, repo: Path, stderr_path: Path, *extra: str,
                 token: Optional[str] = None) -> None:
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "w")
        env = {**os.environ, "AGENTFENSE_MCP_TOKEN": token} if token else None
        self.process = subprocess.Popen(
            [agentfense, *mcp_args(repo, "--http", "127.0.0.1:0", *extra)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env)
        match = wait_for_endpoint(self.process, stderr_path)
        super().__init__(match.group(1), token or token_of(match))
        self.endpoint_line = match.group(0)

    def stop(self) -> str:
        """SIGTERM, as a supervisor stops it; returns everything it wrote on stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=30) == 0
        self._stderr.close()
        return self.stderr_path.read_text()


@asynccontextmanager
async def http_session(url: str, token: str) -> AsyncIterator[ClientSession]:
    """The official client, sending the endpoint's token as MCP clients are configured to."""
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


class RawStdio:
    """`agentfense mcp` over stdio driven byte by byte (no client library), for what a
    library would never send."""

    def __init__(self, agentfense: str, repo: Optional[Path], *extra: str,
                 args: Optional[list[str]] = None) -> None:
        """`args`: the whole command line after the binary (default: mcp_args(repo))."""
        assert (repo is None) != (args is None)
        self.process = subprocess.Popen([agentfense, *(args or mcp_args(repo, *extra))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)

    def send(self, raw: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(raw + b"\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the server closed stdout"
        message: dict[str, Any] = json.loads(line)
        return message

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        self.send(json.dumps(message).encode())
        return self.receive()

    def initialize(self) -> dict[str, Any]:
        reply = self.request({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                         "clientInfo": {"name": "raw", "version": "0"}}})
        self.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        return reply

    def close(self) -> tuple[int, str]:
        assert self.process.stdin is not None and self.process.stderr is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=30)
        return code, self.process.stderr.read().decode()


def descendants(pid: int) -> set[int]:
    """Every live process below pid (through /proc/*/task/*/children)."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except (FileNotFoundError, ProcessLookupError):  # it exited meanwhile
            continue
        for task in tasks:
            try:
                text = Path(f"/proc/{current}/task/{task}/children").read_text()
            except (FileNotFoundError, ProcessLookupError):  # it exited meanwhile
                continue
            for child in map(int, text.split()):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):  # it exited meanwhile
            continue
        if state != "Z":
            living.add(pid)
    return living


def sleeps_running(pid: int) -> int:
    """How many `sleep` processes run below `pid` (the tool calls' commands)."""
    count = 0
    for child in alive(descendants(pid)):
        try:
            if Path(f"/proc/{child}/cmdline").read_bytes().startswith(b"sleep\x00"):
                count += 1
        except (FileNotFoundError, ProcessLookupError):  # it exited meanwhile
            pass
    return count


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    content: Optional[dict[str, Any]] = result.structured_content
    assert content is not None
    return content


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")
