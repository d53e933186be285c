"""Issue 10 items 2 and 4: callers authenticate with an API key (`authorization: Bearer
KEY`, gRPC metadata or HTTP header) or a client certificate, over TLS on both ports.
Missing, wrong and revoked keys are refused (UNAUTHENTICATED / 401 with a reason); a key
revoked with `agentfense server keys revoke` stops working within a second, without a
restart; a renewed server certificate is served without a restart."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import grpc
import pytest
import requests

from pki import make_pki, serial_of
from server_harness import cb, cb_grpc, reason_of
from tenants import add_key, keys_cli, start_tenant_server

WRONG_KEY = "afk_" + "W" * 43


@pytest.fixture(scope="module")
def tenants():
    t = start_tenant_server({"alice": {"owners": ["team-a"]}, "admin": {"role": "admin"}},
                            certificates={"ci": ("ci-runner.example", ["team-ci"])})
    yield t
    t.stop()


@pytest.fixture
def anonymous(tenants):
    client = tenants.server.client()
    yield client
    client.close()


def list_codebases(client, **kw):
    return client.codebases.ListCodebases(cb.ListCodebasesRequest(), **kw)


def assert_unauthenticated(call, *words: str) -> str:
    with pytest.raises(grpc.RpcError) as error:
        call()
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED, error.value
    assert reason_of(error.value) == "UNAUTHENTICATED"
    for word in words:
        assert word in error.value.details(), error.value.details()
    assert WRONG_KEY not in error.value.details()  # never echoed
    return error.value.details()


def test_grpc_refuses_missing_wrong_and_malformed_keys(tenants, anonymous):
    assert_unauthenticated(lambda: list_codebases(anonymous), "authorization: Bearer")
    wrong = tenants.server.client(WRONG_KEY)
    try:
        assert_unauthenticated(lambda: list_codebases(wrong), "not recognised")
    finally:
        wrong.close()
    for header in ("Basic " + WRONG_KEY, "Bearer", "Bearer  two words"):
        assert_unauthenticated(lambda: list_codebases(anonymous, metadata=[("authorization", header)]),
                               "malformed")
    # Streams too, before their first message is read.
    assert_unauthenticated(lambda: anonymous.codebases.UploadFiles(iter([cb.UploadChunk(
        metadata=cb.UploadChunk.Metadata(codebase_id="cb_x", file_path="/x"))])))
    assert len(list_codebases(tenants.client("alice")).codebases) >= 0  # a good key works


def test_rest_refuses_missing_wrong_and_malformed_keys(tenants):
    url = f"{tenants.server.http}/v1/codebases"
    ca = tenants.server.ca_path
    for headers in ({}, {"authorization": f"Bearer {WRONG_KEY}"}, {"authorization": "Basic x"}):
        r = requests.get(url, headers=headers, verify=ca)
        assert r.status_code == 401, r.text
        body = r.json()
        assert body["status"] == "UNAUTHENTICATED" and body["reason"] == "UNAUTHENTICATED"
        assert WRONG_KEY not in r.text
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    # Unknown paths too: nothing is revealed before authentication.
    assert requests.get(f"{tenants.server.http}/v1/nope", verify=ca).status_code == 401
    r = requests.get(url, headers={"authorization": f"Bearer {tenants.keys['alice']}"}, verify=ca)
    assert r.status_code == 200, r.text


def test_an_unauthenticated_upload_stores_nothing(tenants):
    admin = tenants.client("admin")
    codebase = admin.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="u", owner_id="team-a"))
    r = requests.put(f"{tenants.server.http}/v1/codebases/{codebase.id}/content/planted.txt",
                     data=b"x" * (3 << 20), verify=tenants.server.ca_path)
    assert r.status_code == 401
    assert not admin.codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase.id)).files
    admin.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=codebase.id))


def test_keys_are_stored_hashed_and_never_logged(tenants):
    stored = tenants.keys_file.read_text()
    listing = keys_cli(tenants.keys_file, "list").stdout
    log = tenants.server.read_log()
    for name, key in tenants.keys.items():
        assert key not in stored and key not in listing and key not in log, name
        assert key[:12] in stored and key[:12] in listing  # the key id only
    assert "sha256:" in stored
    assert oct(tenants.keys_file.stat().st_mode & 0o777) == "0o600"


def test_revoked_key_is_refused_within_a_second(tenants):
    key = add_key(tenants.keys_file, "carol", ["team-c"])
    carol = tenants.server.client(key)
    try:
        deadline = time.monotonic() + 5
        while True:  # the new key is picked up without a restart, too
            try:
                list_codebases(carol)
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline, "a new key was never accepted"
                time.sleep(0.05)
        keys_cli(tenants.keys_file, "revoke", key[:12])
        revoked = time.monotonic()
        while True:
            try:
                list_codebases(carol)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                break
            assert time.monotonic() - revoked < 1.5, "revocation took longer than a second"
            time.sleep(0.02)
        r = carol.http.get(f"{carol.url}/v1/codebases")
        assert r.status_code == 401
    finally:
        carol.close()


def test_revoking_an_unknown_key_is_an_error(tenants):
    done = keys_cli(tenants.keys_file, "revoke", "afk_NOPE1234", check=False)
    assert done.returncode == 2 and "no key afk_NOPE1234" in done.stderr


def test_a_verified_client_certificate_authenticates(tenants):
    ci = tenants.server.client(client_cert=tenants.client_certs["ci"])
    try:
        made = ci.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="ci"))
        assert made.owner_id == "team-ci"
        r = ci.http.get(f"{ci.url}/v1/codebases/{made.id}")
        assert r.status_code == 200 and r.json()["ownerId"] == "team-ci"
        # A key that is sent decides: a wrong one is refused even next to a good certificate.
        assert_unauthenticated(lambda: list_codebases(ci, metadata=[("authorization", f"Bearer {WRONG_KEY}")]))
        ci.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=made.id))
    finally:
        ci.close()


def test_unmapped_and_untrusted_certificates_are_refused(tenants):
    cert, key = tenants.pki.issue("client-stranger", "stranger.example", serial=9)
    stranger = tenants.server.client(client_cert=(str(cert), str(key)))
    try:
        assert_unauthenticated(lambda: list_codebases(stranger), "stranger.example", "not mapped")
        assert stranger.http.get(f"{stranger.url}/v1/codebases").status_code == 401
    finally:
        stranger.close()
    other_ca = make_pki(tenants.root / "other-pki", "other")
    cert, key = other_ca.issue("client-forged", "ci-runner.example")
    forged = tenants.server.client(client_cert=(str(cert), str(key)))
    try:
        with pytest.raises(grpc.RpcError) as error:
            list_codebases(forged, timeout=10)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake fails
        with pytest.raises(requests.exceptions.SSLError):
            forged.http.get(f"{forged.url}/v1/codebases")
    finally:
        forged.close()


def test_plain_text_is_refused_on_both_ports(tenants):
    server = tenants.server
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{server.http_port}/v1/codebases", timeout=5)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    try:
        with pytest.raises(grpc.RpcError) as error:
            cb_grpc.CodebaseServiceStub(channel).ListCodebases(cb.ListCodebasesRequest(),
                                                               timeout=5)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        channel.close()


def served_serial(port: int, ca: str) -> int:
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return serial_of(tls.getpeercert(binary_form=True))


def replace_atomically(source: Path, target: Path) -> None:
    temp = target.with_suffix(".new")
    temp.write_bytes(source.read_bytes())
    os.rename(temp, target)


def test_a_renewed_certificate_is_served_without_a_restart(tenants):
    server, pki = tenants.server, tenants.pki
    ports = {"grpc": server.grpc_port, "rest": server.http_port}

    def serials():
        return {name: served_serial(port, server.ca_path) for name, port in ports.items()}

    assert serials() == {"grpc": 1, "rest": 1}
    pid = server.proc.pid
    cert, key = pki.issue("renewed", "localhost", server=True, serial=77)
    # Half renewed: the new key next to the old certificate. Neither transport may take
    # it (a mismatched pair would break every handshake); both keep the old pair.
    replace_atomically(key, pki.dir / "server.key")
    time.sleep(2.5)
    assert serials() == {"grpc": 1, "rest": 1}
    assert "tls.reload_failed" in server.read_log()
    replace_atomically(cert, pki.dir / "server.crt")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and serials() != {"grpc": 77, "rest": 77}:
        time.sleep(0.2)
    assert serials() == {"grpc": 77, "rest": 77}
    assert server.proc.pid == pid and server.proc.poll() is None  # no restart
    assert len(list_codebases(tenants.client("alice")).codebases) >= 0


def overwrite_unnoticed(path: Path, text: bytes, size: int) -> None:
    """`text`, padded with newlines to `size` bytes, written into `path` in place with
    its mtime put back: same inode, size and mtime, so the server's poll cannot see the
    change and only SIGHUP makes it re-read."""
    assert len(text) <= size
    before = path.stat()
    assert before.st_size == size
    with open(path, "r+b") as f:
        f.write(text + b"\n" * (size - len(text)))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns)


def padded_copy(source: Path, target: Path, size: int) -> None:
    """`source` padded to `size` bytes, renamed over `target` (a change the poll sees)."""
    text = source.read_bytes()
    temp = target.with_suffix(".new")
    temp.write_bytes(text + b"\n" * (size - len(text)))
    os.rename(temp, target)


def test_sighup_rereads_certificates_and_keys_the_poll_cannot_see_changed(tenants):
    """SIGHUP re-reads the keys file and the certificates whatever their stamps say (a
    file edited in place with its mtime restored looks unchanged to the poll)."""
    server, pki = tenants.server, tenants.pki
    ports = {"grpc": server.grpc_port, "rest": server.http_port}

    def serials():
        return {name: served_serial(port, server.ca_path) for name, port in ports.items()}

    def wait_for(condition, what: str, seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.1)

    size = 4096
    # Fixed-size server files first (taken by the poll: a rename), serial 80.
    cert, key = pki.issue("sighup-a", "localhost", server=True, serial=80)
    padded_copy(key, pki.dir / "server.key", size)
    padded_copy(cert, pki.dir / "server.crt", size)
    wait_for(lambda: serials() == {"grpc": 80, "rest": 80}, "the padded pair was never served")
    # A key for carol, then her entry's hash replaced in place by another of the same
    # length: revoked on disk, but the poll cannot notice.
    key_carol = add_key(tenants.keys_file, "carol-hup", ["team-c"])
    carol = tenants.server.client(key_carol)
    try:
        def carol_works() -> bool:
            try:
                list_codebases(carol)
                return True
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                return False

        wait_for(carol_works, "the new key was never accepted")
        text = tenants.keys_file.read_bytes()
        start = text.index(b"sha256:", text.index(b"carol-hup"))
        stored = text[start:start + 7 + 64]
        assert stored in text and text.count(stored) == 1
        forged = text.replace(stored, b"sha256:" + b"0" * 64)
        overwrite_unnoticed(tenants.keys_file, forged, len(text))
        new_cert, new_key = pki.issue("sighup-b", "localhost", server=True, serial=81)
        overwrite_unnoticed(pki.dir / "server.key", new_key.read_bytes(), size)
        overwrite_unnoticed(pki.dir / "server.crt", new_cert.read_bytes(), size)
        time.sleep(1.5)  # several polls: none of them may have noticed
        assert serials() == {"grpc": 80, "rest": 80}
        assert carol_works()
        os.kill(server.proc.pid, signal.SIGHUP)
        wait_for(lambda: serials() == {"grpc": 81, "rest": 81}, "SIGHUP did not reload the pair", 5)
        wait_for(lambda: not carol_works(), "SIGHUP did not re-read the keys file", 5)
        assert "server.reload_requested" in server.read_log()
    finally:
        carol.close()
    assert server.proc.poll() is None
    assert len(list_codebases(tenants.client("alice")).codebases) >= 0


def test_readme_walkthrough_runs_over_tls_with_a_key(tenants, tmp_path):
    """The README's curl walk-through as pasted, against the authenticated TLS server:
    $AGENTFENSE_API_KEY set, the CA trusted, only the address changed."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("H=http://127.0.0.1:8080/v1")
    end = readme.index("\n", readme.index("-XDELETE $H/sandboxes/$SB", start))
    script = readme[start:end].replace("http://127.0.0.1:8080",
                                       f"https://localhost:{tenants.server.http_port}")
    project = tmp_path / "some" / "project"
    project.mkdir(parents=True)
    (project / "hello.txt").write_text("hi\n")
    (tmp_path / "README.md").write_text("# pasted\n")
    env = dict(os.environ, AGENTFENSE_API_KEY=tenants.keys["alice"],
               CURL_CA_BUNDLE=tenants.server.ca_path)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"exitCode":1' in done.stdout and "No such file" in done.stdout
    assert '"reason":"FILE_NOT_FOUND"' in done.stdout
    assert "UNAUTHENTICATED" not in done.stdout
