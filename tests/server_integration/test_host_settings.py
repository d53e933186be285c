"""Host settings the server depends on for speed are reported at start-up: without the
cgroup mount option `favordynmods`, every sandbox's first command waits ~10 ms for the
kernel (docs/performance.md), and the server says so once, with the cost and the fix."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from server_harness import Server, agentfense_bin, free_ports

EVENT = "server.cgroup_favordynmods_off"


def cgroup_superopts() -> list[str]:
    """The super options of every cgroup mount in our mount table."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        head, _, tail = line.partition(" - ")
        fields = tail.split()
        if len(fields) >= 3 and fields[0] in ("cgroup", "cgroup2"):
            found.append(fields[2])
    return found


def events(log: str, name: str) -> list[dict]:
    out = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if name in record.values():
            out.append(record)
    return out


@pytest.fixture
def data_dir():
    path = Path(tempfile.mkdtemp(prefix="af-host-settings-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_start_up_reports_slow_cgroup_moves_exactly_when_the_host_has_them(data_dir):
    opts = cgroup_superopts()
    if not opts:
        pytest.skip("no cgroup hierarchy mounted")
    off = not any("favordynmods" in o.split(",") for o in opts)
    server = Server(str(data_dir)).start()
    try:
        found = events(server.read_log(), EVENT)
    finally:
        server.stop()
    assert len(found) == (1 if off else 0), server.read_log()


def test_without_a_cgroup2_mount_start_up_says_moves_stay_slow(data_dir):
    """In a mount namespace of its own without the cgroup2 mount (a host with v1
    hierarchies only): nothing carries the option, and nothing can be remounted with it."""
    unified = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
               if " - cgroup2 " in line]
    if not any(" - cgroup " in line for line in Path("/proc/self/mountinfo").read_text().splitlines()):
        pytest.skip("no v1 cgroup hierarchy on this host")
    unmount = "".join(f"umount {m} && " for m in unified)
    log_path = data_dir / "server.log"
    grpc_port, http_port = free_ports(2)
    argv = [agentfense_bin(), "server", "--grpc-addr", f"127.0.0.1:{grpc_port}",
            "--http-addr", f"127.0.0.1:{http_port}", "--data-dir", str(data_dir / "data"),
            "--log-format", "json"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                 unmount + 'exec "$@"', "sh", *argv],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 30
            while time.time() < deadline and not events(log_path.read_text(), "server.listening"):
                assert proc.poll() is None, log_path.read_text()
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    text = log_path.read_text()
    found = events(text, EVENT)
    assert len(found) == 1, text
    assert "no cgroup2 mount" in found[0]["fix"], found[0]
    assert "10 ms" in found[0]["cost"], found[0]
