"""Issue 10 item 1: a safe default. A server listening beyond loopback without
authentication refuses to start, with one line saying how to configure it; `auth.mode:
none` is the explicit opt-out, logged as a warning. Contradictory settings and a bad keys
file stop start-up too; a keys file broken while the server runs withdraws its keys."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import grpc
import pytest

from server_harness import Server, agentfense_bin, cb, free_ports, reason_of
from tenants import add_key, keys_cli


@pytest.fixture
def data_dir():
    path = Path(tempfile.mkdtemp(prefix="af-auth-start-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start(data_dir: Path, grpc_addr: str, http_addr: str, config: str = ""):
    argv = [agentfense_bin(), "server", "--grpc-addr", grpc_addr, "--http-addr", http_addr,
            "--data-dir", str(data_dir / "data")]
    if config:
        (data_dir / "config.yaml").write_text(config)
        argv += ["--config", str(data_dir / "config.yaml")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("grpc_host,http_host", [("0.0.0.0", "127.0.0.1"), ("", "127.0.0.1"),
                                                 ("127.0.0.1", "[::]"), ("127.0.0.1", "")])
def test_beyond_loopback_without_auth_refuses_to_start(data_dir, grpc_host, http_host):
    grpc_port, http_port = free_ports(2)
    done = start(data_dir, f"{grpc_host}:{grpc_port}", f"{http_host}:{http_port}")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "accepts connections from other hosts" in lines[0]
    assert "auth.keys_file" in lines[0] and "auth.mode: none" in lines[0]
    assert done.stdout == ""


def test_auth_mode_none_is_an_explicit_opt_out_logged_as_a_warning(data_dir):
    server = Server(str(data_dir), config="auth:\n  mode: none\n")
    server.start()  # on loopback here; the harness talks to 127.0.0.1
    try:
        server.codebases.ListCodebases(cb.ListCodebasesRequest())
        assert '"server.auth_disabled"' in server.read_log() or "server.auth_disabled" in server.read_log()
    finally:
        assert server.stop() == 0
    port, http_port = free_ports(2)
    proc = subprocess.Popen([agentfense_bin(), "server", "--grpc-addr", f"0.0.0.0:{port}",
                             "--http-addr", f"0.0.0.0:{http_port}", "--data-dir",
                             str(data_dir / "data"), "--config", str(data_dir / "config.yaml")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        channel.close()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=60)[0]
    assert "server.auth_disabled" in out and proc.returncode == 0


@pytest.mark.parametrize("config,words", [
    ("auth:\n  mode: none\n  keys_file: /tmp/x.yaml\n", "contradicts"),
    ("auth:\n  mode: required\n", "no credentials are configured"),
    ("server:\n  tls:\n    cert: /tmp/only-cert.pem\n", "needs both cert and key"),
    ("auth:\n  mode: maybe\n", "expected none or required"),
    ("auth:\n  keys:\n    - {id: x, owners: [a], hash: 'sha256:zz'}\n", "auth.keys[0].hash"),
    ("auth:\n  keys:\n    - {id: x, hash: 'sha256:" + "a" * 64 + "'}\n", "needs at least one owner"),
    ("auth:\n  default_quotas:\n    sesions: 3\n", "did you mean 'auth.default_quotas.sessions'"),
])
def test_contradictory_or_bad_auth_settings_stop_start_up(data_dir, config, words):
    grpc_port, http_port = free_ports(2)
    done = start(data_dir, f"127.0.0.1:{grpc_port}", f"127.0.0.1:{http_port}", config)
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_a_bad_keys_file_stops_start_up_naming_it(data_dir):
    keys = data_dir / "keys.yaml"
    keys.write_text("keys:\n  - id: alice\n    owners: [a]\n    hash: nope\n")
    grpc_port, http_port = free_ports(2)
    done = start(data_dir, f"127.0.0.1:{grpc_port}", f"127.0.0.1:{http_port}",
                 f"auth:\n  keys_file: {keys}\n")
    assert done.returncode == 2 and str(keys) in done.stderr and "line 4" in done.stderr


def test_keys_on_loopback_are_required_too_and_a_broken_file_fails_closed(data_dir):
    keys = data_dir / "keys.yaml"
    key = add_key(keys, "alice", ["a"])
    server = Server(str(data_dir), config=f"auth:\n  keys_file: {keys}\n", api_key=key).start()
    try:
        anonymous = server.client()
        with pytest.raises(grpc.RpcError) as e:
            anonymous.codebases.ListCodebases(cb.ListCodebasesRequest())
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason_of(e.value) == "UNAUTHENTICATED"
        anonymous.close()
        server.codebases.ListCodebases(cb.ListCodebasesRequest())
        good = keys.read_text()
        keys.write_text(good.replace("keys:", "keys: [", 1))  # a bad hand edit
        deadline = time.monotonic() + 5
        while True:
            try:
                server.codebases.ListCodebases(cb.ListCodebasesRequest())
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                break
            assert time.monotonic() < deadline, "a broken keys file kept its keys"
            time.sleep(0.05)
        assert "auth.keys_file_invalid" in server.read_log()
        keys.write_text(good)
        deadline = time.monotonic() + 5
        while True:
            try:
                server.codebases.ListCodebases(cb.ListCodebasesRequest())
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline, "the fixed keys file was not taken"
                time.sleep(0.05)
        assert keys_cli(keys, "list").stdout.count("alice") == 1
    finally:
        assert server.stop() == 0, server.read_log()
