"""Starts the real `agentfense server` on free loopback ports and talks to it with a
real gRPC client (stubs generated from the repo's proto/ at test time) and a real HTTP
client. Every stop checks that the server left nothing behind: no mount under its data
directory and no process of its own."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import grpc

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "build" / "agentfense"


def agentfense_bin() -> str:
    return os.environ.get("AGENTFENSE_BIN", str(DEFAULT_BIN))


def generate_stubs() -> None:
    """protoc + Debian's grpc_python_plugin into a temp dir on sys.path, removed when
    the process exits (each run left one behind before)."""
    out = Path(tempfile.mkdtemp(prefix="af-stubs-"))
    atexit.register(shutil.rmtree, out, True)
    protos = [str(REPO / "proto" / f"{n}.proto") for n in ("common", "sandbox", "codebase")]
    subprocess.run(
        ["protoc", f"-I{REPO / 'proto'}", f"--python_out={out}", f"--grpc_python_out={out}",
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", *protos],
        check=True)
    sys.path.insert(0, str(out))


generate_stubs()
import codebase_pb2 as cb  # noqa: E402
import codebase_pb2_grpc as cb_grpc  # noqa: E402
import common_pb2 as common  # noqa: E402
import sandbox_pb2 as sb  # noqa: E402
import sandbox_pb2_grpc as sb_grpc  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "test_support"))
from loopback_ports import free_ports  # noqa: E402,F401 (the suites import it from here)


def mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def descendants(pid: int) -> list[int]:
    """Every live process whose ancestry includes `pid`."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
        except OSError:
            continue
    found = []
    for child in parents:
        p = child
        while p in parents and p != 1:
            p = parents[p]
            if p == pid:
                found.append(child)
                break
    return found


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:  # gone meanwhile
        return []


def fs_processes(server: "Server", sandbox_id: str) -> list[int]:
    """The server's fs processes (`agentfense mount`) serving this sandbox."""
    return [pid for pid in descendants(server.proc.pid)
            if cmdline(pid)[1:2] == ["mount"] and any(sandbox_id in a for a in cmdline(pid))]


def wait_for(predicate, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class Client:
    """gRPC stubs and an HTTP session acting as one caller: with `api_key` (sent as
    `authorization: Bearer KEY`), over TLS trusting `ca` (PEM), optionally with a client
    certificate (cert, key) paths."""

    def __init__(self, server: "Server", api_key: str | None = None,
                 client_cert: tuple[str, str] | None = None) -> None:
        self.api_key = api_key
        if server.ca is None:
            assert client_cert is None
            self.channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        else:
            key, chain = (None, None)
            if client_cert:
                chain, key = (Path(p).read_bytes() for p in client_cert)
            creds = grpc.ssl_channel_credentials(root_certificates=server.ca, private_key=key,
                                                 certificate_chain=chain)
            self.channel = grpc.secure_channel(f"localhost:{server.grpc_port}", creds)
        # The key as plain call metadata, as the SDK sends it (gRPC's call credentials
        # would add a hop of their own per call, which the SDK does not pay).
        metadata = [("authorization", f"Bearer {api_key}")] if api_key else None
        self.sandboxes = _WithMetadata(sb_grpc.SandboxServiceStub(self.channel), metadata)
        self.codebases = _WithMetadata(cb_grpc.CodebaseServiceStub(self.channel), metadata)
        import requests
        self.http = requests.Session()
        # $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE would override the session's CA.
        self.http.trust_env = False
        if api_key:
            self.http.headers["authorization"] = f"Bearer {api_key}"
        if server.ca is not None:
            self.http.verify = server.ca_path
            if client_cert:
                self.http.cert = client_cert
        self.url = server.http

    def close(self) -> None:
        self.channel.close()
        self.http.close()


class _WithMetadata:
    """A stub whose every call carries `metadata` (unless the call names its own)."""

    def __init__(self, stub, metadata) -> None:
        self._stub, self._metadata = stub, metadata

    def __getattr__(self, name):
        method = getattr(self._stub, name)
        if self._metadata is None:
            return method
        return lambda *args, **kw: method(*args, **{"metadata": self._metadata, **kw})


class Server:
    """One server process over a data directory. `start()` may be called again after
    `stop()` or `kill()` on the same data directory (restart tests). With `ca_path` the
    server is expected to serve TLS with a certificate that CA signed (for localhost),
    and with `api_key` the harness's own stubs authenticate with that key."""

    def __init__(self, data_dir: str, config: str = "", ca_path: str | None = None,
                 api_key: str | None = None, program: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = env  # added to the server's environment
        self.program = program  # the `agentfense` to run; default: agentfense_bin()
        self.config_text = config
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(data_dir, "server.log")
        self.ca_path = ca_path
        self.ca = Path(ca_path).read_bytes() if ca_path else None
        self.api_key = api_key

    def client(self, api_key: str | None = None,
               client_cert: tuple[str, str] | None = None) -> Client:
        return Client(self, api_key, client_cert)

    def start(self) -> "Server":
        # Another process on the host may take a chosen port before the server binds it
        # (the suites run side by side): that start-up fails naming the port; try others.
        for _ in range(3):
            if self._start_once():
                return self
            self.log.close()
        raise AssertionError(f"three start-ups found their ports taken; log:\n{self.read_log()}")

    def _start_once(self) -> bool:
        """False when the server exited because a port was taken; raises on other failures."""
        self.grpc_port, self.http_port = free_ports(2)
        argv = [self.program or agentfense_bin(), "server", "--grpc-addr", f"127.0.0.1:{self.grpc_port}",
                "--http-addr", f"127.0.0.1:{self.http_port}", "--data-dir", self.data_dir,
                "--log-format", "json"]
        if self.config_text:
            cfg = os.path.join(self.data_dir, "config.yaml")
            Path(cfg).write_text(self.config_text)
            argv += ["--config", cfg]
        self.log = open(self.log_path, "ab")
        log_start = self.log.tell()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **self.env} if self.env else None)
        scheme = "https://localhost" if self.ca is not None else "http://127.0.0.1"
        self.http = f"{scheme}:{self.http_port}"
        own = self.client(self.api_key)
        self.channel = own.channel
        ready = grpc.channel_ready_future(self.channel)
        deadline = time.time() + 30
        while not ready.done() and self.proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        if not ready.done():
            ready.cancel()
            self.channel.close()
            if self.proc.poll() is not None and "cannot listen" in self.read_log()[log_start:]:
                return False
            raise AssertionError(f"server did not come up; log:\n{self.read_log()}")
        self.sandboxes = own.sandboxes
        self.codebases = own.codebases
        self._wait_http()
        return True

    def _wait_http(self) -> None:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.http_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"REST port never opened; log:\n{self.read_log()}")

    def read_log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then check the server left nothing behind."""
        assert self.proc is not None
        self.channel.close()
        kids = descendants(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.log.close()
        self.assert_nothing_left(kids)
        return code

    def kill(self) -> None:
        """SIGKILL: a crash. Whatever it leaves must be cleaned by the next start."""
        assert self.proc is not None
        self.channel.close()
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.log.close()

    def assert_nothing_left(self, pids: list[int]) -> None:
        deadline = time.time() + 10
        while time.time() < deadline:
            alive = [p for p in pids if running(p)]
            if not alive and not mounts_under(self.data_dir):
                return
            time.sleep(0.1)
        raise AssertionError(f"left behind: processes {alive}, mounts {mounts_under(self.data_dir)}")


def running(pid: int) -> bool:
    """Alive and not a zombie; a process that ends while it is looked at is not."""
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
    except (FileNotFoundError, ProcessLookupError):
        return False


def remove_tree(path: str) -> None:
    """A data directory may hold a tree thousands of levels deep that the server's
    background remover had not finished when it stopped (.trash): shutil.rmtree recurses
    once per level and hits Python's recursion limit; rm does not."""
    subprocess.run(["rm", "-rf", "--one-file-system", "--", path], check=False)


def serving(prefix: str, config: str = "", **server_kw) -> Iterator[Server]:
    """For a fixture to `yield from`: a server started over a fresh data directory
    named `prefix...`; afterwards it must stop cleanly (exit 0, nothing left behind), and
    its data directory goes either way."""
    data_dir = tempfile.mkdtemp(prefix=prefix)
    running = None
    try:
        running = Server(data_dir, config=config, **server_kw).start()
        yield running
        srv, running = running, None
        assert srv.stop() == 0, srv.read_log()
    finally:
        # A test that failed inside a `for srv in serving(...)` loop closes the generator
        # here: its server is stopped all the same, never left running.
        if running is not None:
            try:
                running.stop()
            except Exception:  # noqa: BLE001 - the test's own failure is the one to report
                pass
        remove_tree(data_dir)


def rule(pattern: str, permission: str, priority: int = 0, type_: str = "GLOB"):
    return common.PermissionRule(
        pattern=pattern, permission=getattr(common, f"PERMISSION_{permission.upper()}"),
        priority=priority, type=getattr(common, f"PATTERN_TYPE_{type_}"))


AGENT_SAFE = [
    rule("**", "read"), rule("/output/**", "write", 10), rule("/tmp/**", "write", 10),
    rule("**/.env*", "none", 100), rule("**/secrets/**", "none", 100),
    rule("**/*.key", "none", 100), rule("**/*.pem", "none", 100),
    rule("**/credentials*", "none", 100), rule("**/.git/**", "none", 100),
]


def upload(server: Server, codebase_id: str, path: str, data: bytes, chunk: int = 64 * 1024):
    def chunks():
        yield cb.UploadChunk(metadata=cb.UploadChunk.Metadata(
            codebase_id=codebase_id, file_path=path, total_size=len(data)))
        for i in range(0, len(data), chunk):
            yield cb.UploadChunk(data=data[i:i + chunk])
    return server.codebases.UploadFiles(chunks())


def reason_of(error: grpc.RpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == "agentfense-reason":
            return value
    return ""
