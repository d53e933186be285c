"""Shared fixtures. The unit tests need nothing; the integration tests (marked
``integration``) start the real `agentfense server` on free loopback ports over a temp
data directory, and skip with a clear message when the binary has no `server`
subcommand yet.

The server runs in one of two modes, chosen by $AGENTFENSE_TEST_SERVER:
- "plain" (default): no TLS, no keys: the local developer's server.
- "tls": TLS with a CA made by `openssl` for the run, API keys required. Tests that use
  the server then run with $AGENTFENSE_API_KEY (an admin key, so the tests that name
  owners and import directories keep their meaning) and $AGENTFENSE_CA_CERT set, exactly
  as a user of a shared server configures the SDK; their code does not change.
  (test_integration_auth.py covers user principals against its own server, in both.)"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Tuple

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # fake_server, helpers

from api_flavours import SYNC, Api, async_api  # noqa: E402 (needs the path above)

REPO = Path(__file__).resolve().parents[3]
SERVER_MODE = os.environ.get("AGENTFENSE_TEST_SERVER", "plain")
assert SERVER_MODE in ("plain", "tls"), f"AGENTFENSE_TEST_SERVER={SERVER_MODE}: plain or tls"
sys.path.insert(0, str(REPO / "tests" / "docker"))  # a private dockerd for RuntimeType.DOCKER
sys.path.insert(0, str(REPO / "tests" / "test_support"))
from dockerd import TEST_IMAGE, start_with_images  # noqa: E402
from loopback_ports import free_ports  # noqa: E402

# The documents' examples name a public image; the test dockerd has no registry, so the
# test image (a Python 3.11 userland made from this machine's files) answers to it too.
DOCS_IMAGE = "python:3.11-slim"


def pytest_report_header() -> str:
    """Which SDK the suite tests: scripts/test.sh installs the wheel."""
    import agentfense

    return f"agentfense SDK under test: {agentfense.__file__}"


def agentfense_bin() -> str:
    return os.environ.get("AGENTFENSE_BIN", str(REPO / "build" / "agentfense"))


def server_unavailable_reason() -> str:
    """Why the real server cannot be used ('' when it can)."""
    binary = agentfense_bin()
    if not os.access(binary, os.X_OK):
        return f"{binary} not built (scripts/build.sh, or set AGENTFENSE_BIN)"
    probe = subprocess.run([binary, "server", "--help"], capture_output=True, text=True,
                           timeout=30)
    # An older CLI without the subcommand prints its general help, also with status 0,
    # so the server's own flag must appear.
    if probe.returncode != 0 or "--grpc-addr" not in probe.stdout + probe.stderr:
        return f"{binary} has no `server` subcommand yet"
    return ""


# A shell starts background jobs with SIGINT ignored, and Python then leaves it ignored
# instead of raising KeyboardInterrupt. The Ctrl-C tests need what an interactive user
# has, whoever launched pytest (scripts/test.sh runs the suites side by side with `&`).
signal.signal(signal.SIGINT, signal.default_int_handler)

# Low enough for a test to reach it, above the 50 sandboxes one test runs at once.
MAX_PER_USER = 60


@dataclass
class RunningServer:
    endpoint: str  # gRPC host:port
    http_url: str  # REST base URL, http(s)://host:port
    data_dir: Path
    import_root: Path
    log_path: Path
    docker_host: str  # the server's dockerd (runtime.docker.host)
    api_key: Optional[str] = None  # "tls" mode: what $AGENTFENSE_API_KEY holds
    ca_cert: Optional[Path] = None  # "tls" mode: what $AGENTFENSE_CA_CERT names

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def tls_settings(root: Path) -> Tuple[str, str, Path]:
    """For "tls" mode: config lines (TLS + keys file), an admin key, the CA file."""
    sys.path.insert(0, str(REPO / "tests" / "server_integration"))
    from pki import make_pki  # the same openssl-made PKI the server tests use

    pki = make_pki(root / "pki")
    cert, key = pki.issue("server", "localhost", server=True)
    keys_file = root / "keys.yaml"
    added = subprocess.run([agentfense_bin(), "server", "keys", "add", "--keys-file",
                            str(keys_file), "--id", "sdk-tests", "--role", "admin"],
                           capture_output=True, text=True, timeout=30, check=True)
    config = (f"server:\n  tls:\n    cert: {cert}\n    key: {key}\n"
              f"auth:\n  keys_file: {keys_file}\n")
    return config, added.stdout.strip(), pki.ca_cert


@pytest.fixture(scope="session")
def dockerd():
    """A private dockerd with the test image, also tagged as DOCS_IMAGE."""
    daemon = start_with_images()
    repo, tag = DOCS_IMAGE.split(":")
    daemon.json("POST", f"/images/{TEST_IMAGE}/tag?repo={repo}&tag={tag}")
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def agentfense_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    reason = server_unavailable_reason()
    if reason:
        pytest.skip(f"integration tests skipped: {reason}")
    docker = request.getfixturevalue("dockerd")
    data_dir = Path(tempfile.mkdtemp(prefix="af-sdk-server-"))
    import_root = Path(tempfile.mkdtemp(prefix="af-sdk-import-"))
    config = data_dir / "config.yaml"
    tls_config, api_key, ca_cert = "", None, None
    if SERVER_MODE == "tls":
        tls_config, api_key, ca_cert = tls_settings(data_dir)
    config.write_text(f"storage:\n  import_roots: [{import_root}]\n"
                      "runtime:\n  max_timeout: 10m\n"
                      f"  docker:\n    host: {docker.host}\n    default_image: {TEST_IMAGE}\n"
                      f"sandbox:\n  max_per_user: {MAX_PER_USER}\n" + tls_config)
    grpc_port, http_port = free_ports(2)
    log_path = data_dir / "server.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [agentfense_bin(), "server", "--grpc-addr", f"127.0.0.1:{grpc_port}",
             "--http-addr", f"127.0.0.1:{http_port}", "--data-dir", str(data_dir / "data"),
             "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    if ca_cert is None:
        server = RunningServer(f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}",
                               data_dir, import_root, log_path, docker.host)
        channel = grpc.insecure_channel(server.endpoint)
    else:  # the certificate names localhost
        server = RunningServer(f"localhost:{grpc_port}", f"https://localhost:{http_port}",
                               data_dir, import_root, log_path, docker.host, api_key, ca_cert)
        channel = grpc.secure_channel(server.endpoint, grpc.ssl_channel_credentials(
            root_certificates=ca_cert.read_bytes()))
    try:
        grpc.channel_ready_future(channel).result(timeout=60)
    except grpc.FutureTimeoutError:
        process.kill()
        pytest.fail(f"agentfense server did not come up; log:\n{server.log()}")
    finally:
        channel.close()
    yield server
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.rmtree(import_root, ignore_errors=True)


@pytest.fixture(autouse=True)
def server_credentials(request: pytest.FixtureRequest,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """In "tls" mode, a test using the server gets the key and CA in its environment,
    where the SDK (and the examples and documents it runs) finds them."""
    if SERVER_MODE != "tls" or "agentfense_server" not in request.fixturenames:
        return
    server: RunningServer = request.getfixturevalue("agentfense_server")
    monkeypatch.setenv("AGENTFENSE_API_KEY", server.api_key or "")
    monkeypatch.setenv("AGENTFENSE_CA_CERT", str(server.ca_cert))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(server.ca_cert))


SECRET = "SECRET-6f1c2e"

PROJECT_FILES = {
    "README.md": "# Sample\n",
    "main.py": "print('hello from main')\n",
    "src/app.py": "VALUE = 1\n",
    "docs/guide.md": "# Guide\n",
    "output/.keep": "",
    ".env": f"TOKEN={SECRET}\n",
    "src/.env": f"SRC_TOKEN={SECRET}\n",
    "config/secrets/db.txt": f"password={SECRET}\n",
    "deploy.pem": f"{SECRET}\n",
    "node_modules/dep/index.js": "ignored by .gitignore\n",
    "notes.private": "ignored by .sandboxignore\n",
    ".gitignore": "node_modules/\n*.log\n!important.log\n",
    ".sandboxignore": "*.private\n",
    "debug.log": "ignored\n",
    "important.log": "re-included by negation\n",
}


def write_project(root: Path) -> Path:
    for relative, content in PROJECT_FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (root / "tool.sh").write_text("#!/bin/sh\necho tool ran\n")
    os.chmod(root / "tool.sh", 0o755)
    (root / "empty-dir").mkdir()
    (root / "main-link.py").symlink_to("main.py")
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A sample project outside the server's import roots (so it is uploaded)."""
    return write_project(tmp_path / "project")


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> Iterator[Api]:
    """Sandbox and SandboxClient of one flavour of the SDK: the test runs once with
    the blocking API and once with the asyncio one (api_flavours.py)."""
    if request.param == "sync":
        yield SYNC
        return
    loop = asyncio.new_event_loop()
    try:
        yield async_api(loop)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
