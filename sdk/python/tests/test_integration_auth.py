"""The SDK against a shared server (issue 10): TLS with a CA made by `openssl`, API keys
made by `agentfense server keys add`, two user principals. Each test runs with the
blocking and the asyncio API (the ``api`` fixture), whatever mode the rest of the suite
runs in. Skipped when the binary has no `server` subcommand."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Tuple

import grpc
import pytest

from agentfense import (AuthenticationError, ConnectionError, PermissionDeniedError,
                        SandboxClient, SandboxNotFoundError)
from api_flavours import Api
from conftest import REPO, SECRET, agentfense_bin, free_ports, server_unavailable_reason

sys.path.insert(0, str(REPO / "tests" / "server_integration"))
from pki import make_pki  # noqa: E402


@dataclass
class SharedServer:
    endpoint: str
    ca_cert: Path
    keys: Dict[str, str]
    client_cert: Tuple[Path, Path]
    import_root: Path


def add_key(keys_file: Path, principal: str, *args: str) -> str:
    done = subprocess.run([agentfense_bin(), "server", "keys", "add", "--keys-file",
                           str(keys_file), "--id", principal, *args],
                          capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def shared() -> Iterator[SharedServer]:
    reason = server_unavailable_reason()
    if reason:
        pytest.skip(f"integration tests skipped: {reason}")
    root = Path(tempfile.mkdtemp(prefix="af-sdk-shared-"))
    pki = make_pki(root / "pki")
    cert, key = pki.issue("server", "localhost", server=True)
    client = pki.issue("client", "sdk-runner")
    keys_file = root / "keys.yaml"
    keys = {name: add_key(keys_file, name, "--owner", f"team-{name}") for name in ("alice", "bob")}
    subprocess.run([agentfense_bin(), "server", "keys", "add", "--keys-file", str(keys_file),
                    "--id", "runner", "--owner", "team-runner", "--client-cn", "sdk-runner"],
                   check=True, capture_output=True, timeout=30)
    import_root = root / "import"
    import_root.mkdir()
    config = root / "config.yaml"
    config.write_text(f"server:\n  tls:\n    cert: {cert}\n    key: {key}\n"
                      f"    client_ca: {pki.ca_cert}\n"
                      f"auth:\n  keys_file: {keys_file}\n"
                      f"storage:\n  import_roots: [{import_root}]\n")
    port, http_port = free_ports(2)
    log_path = root / "server.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [agentfense_bin(), "server", "--grpc-addr", f"127.0.0.1:{port}", "--http-addr",
             f"127.0.0.1:{http_port}", "--data-dir", str(root / "data"), "--config",
             str(config)], stdout=log, stderr=subprocess.STDOUT)
    channel = grpc.secure_channel(f"localhost:{port}", grpc.ssl_channel_credentials(
        root_certificates=pki.ca_cert.read_bytes()))
    try:
        grpc.channel_ready_future(channel).result(timeout=60)
    except grpc.FutureTimeoutError:
        process.kill()
        pytest.fail(f"server did not come up:\n{log_path.read_text()}")
    finally:
        channel.close()
    yield SharedServer(f"localhost:{port}", pki.ca_cert, keys, client, import_root)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever mode the suite runs in, these tests say what they send."""
    for name in ("AGENTFENSE_API_KEY", "AGENTFENSE_CA_CERT", "AGENTFENSE_TLS"):
        monkeypatch.delenv(name, raising=False)


def test_from_local_with_a_key_over_tls(api: Api, shared: SharedServer, project: Path) -> None:
    with api.Sandbox.from_local(project, endpoint=shared.endpoint, api_key=shared.keys["alice"],
                                ca_cert=shared.ca_cert) as sandbox:
        assert sandbox.run("cat main.py").stdout == "print('hello from main')\n"
        assert SECRET not in sandbox.run("cat .env 2>&1; true").stdout
        codebase = sandbox.client.get_codebase(sandbox.info.codebase_id)
        assert codebase.owner_id == "team-alice"  # the key's owner, not sent by the SDK


def test_the_environment_configures_the_sdk(api: Api, shared: SharedServer, project: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFENSE_ENDPOINT", shared.endpoint)
    monkeypatch.setenv("AGENTFENSE_API_KEY", shared.keys["alice"])
    monkeypatch.setenv("AGENTFENSE_CA_CERT", str(shared.ca_cert))
    with api.Sandbox.from_local(project) as sandbox:
        assert sandbox.run("echo ok").stdout == "ok\n"


def test_missing_and_wrong_keys_raise_authentication_error(api: Api, shared: SharedServer,
                                                           project: Path) -> None:
    with pytest.raises(AuthenticationError, match="authentication required"):
        api.Sandbox.from_local(project, endpoint=shared.endpoint, ca_cert=shared.ca_cert)
    with api.SandboxClient(shared.endpoint, api_key="afk_" + "x" * 43,
                           ca_cert=shared.ca_cert) as client:
        with pytest.raises(AuthenticationError, match="not recognised") as error:
            client.list_codebases()
        assert error.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert error.value.reason == "UNAUTHENTICATED"


def test_another_tenants_sandbox_does_not_exist(api: Api, shared: SharedServer,
                                                project: Path) -> None:
    with api.Sandbox.from_local(project, endpoint=shared.endpoint, api_key=shared.keys["alice"],
                                ca_cert=shared.ca_cert) as sandbox:
        with pytest.raises(SandboxNotFoundError):
            api.Sandbox.connect(sandbox.id, endpoint=shared.endpoint, api_key=shared.keys["bob"],
                                ca_cert=shared.ca_cert)
        with api.SandboxClient(shared.endpoint, api_key=shared.keys["bob"],
                               ca_cert=shared.ca_cert) as bob:
            assert sandbox.info.codebase_id not in {c.id for c in bob.list_codebases()}


def test_users_cannot_import_and_from_local_uploads_instead(api: Api, shared: SharedServer,
                                                            project: Path) -> None:
    inside = shared.import_root / "proj"
    if not inside.exists():
        shutil.copytree(project, inside, symlinks=True)
    options = dict(endpoint=shared.endpoint, api_key=shared.keys["bob"], ca_cert=shared.ca_cert)
    with api.Sandbox.from_local(inside, **options) as sandbox:  # import refused: uploaded
        assert sandbox.run("cat main.py").exit_code == 0
        codebase = sandbox.client.get_codebase(sandbox.info.codebase_id)
        assert codebase.imported_from == ""
    with pytest.raises(PermissionDeniedError, match="admin"):
        api.Sandbox.from_local(inside, import_mode="always", **options)


def test_a_client_certificate_authenticates(api: Api, shared: SharedServer) -> None:
    cert, key = shared.client_cert
    with api.SandboxClient(shared.endpoint, ca_cert=shared.ca_cert, client_cert=cert,
                           client_key=key) as client:
        codebase = client.create_codebase("by-certificate")
        assert codebase.owner_id == "team-runner"
        client.delete_codebase(codebase.id)


def test_plain_text_to_a_tls_server_fails_as_a_connection_error(shared: SharedServer) -> None:
    with SandboxClient(shared.endpoint, api_key=shared.keys["alice"], tls=False,
                       rpc_timeout=5) as client:
        with pytest.raises(ConnectionError):
            client.list_codebases()
