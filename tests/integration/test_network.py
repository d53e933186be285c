"""Issue 9 item 13: `--network` never shares the host's network namespace.

A networked sandbox gets its own namespace connected outward by slirp4netns: services
listening on the host's loopback (the AgentFense REST API by default) are unreachable,
also through slirp's host alias 10.0.2.2, while the host's other addresses answer like
any outside address (there is no internet here, so the host's own non-loopback address
stands in for "outside"). The helper process dies with the sandbox, also when
agentfense itself is killed with SIGKILL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from harness import assert_nothing_left, processes_mentioning

PY = "/usr/bin/python3"

PROBE = (
    "import socket, sys\n"
    "for target in sys.argv[1:]:\n"
    "    host, port = target.rsplit(':', 1)\n"
    "    s = socket.socket(); s.settimeout(3)\n"
    "    print(target, s.connect_ex((host, int(port))) == 0)\n")


def default_route_address() -> str:
    """The host's address on the interface of its default route."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.123", 9))  # no packet is sent for a UDP connect
        return probe.getsockname()[0]
    finally:
        probe.close()


@pytest.fixture
def listeners():
    loopback = socket.create_server(("127.0.0.1", 0))
    address = default_route_address()
    assert not address.startswith("127."), address
    outside = socket.create_server((address, 0))
    yield {"loopback": f"127.0.0.1:{loopback.getsockname()[1]}",
           "alias": f"10.0.2.2:{loopback.getsockname()[1]}",
           "outside": f"{address}:{outside.getsockname()[1]}"}
    loopback.close()
    outside.close()


def probe(attack, targets: list[str], options: list[str]) -> dict[str, str]:
    result = attack([PY, "-c", PROBE, *targets], options=options)
    return dict(line.split() for line in result.stdout.splitlines())


def test_networked_sandbox_cannot_reach_host_loopback_services(attack, listeners):
    reached = probe(attack, [listeners["loopback"], listeners["alias"]], ["--network"])
    assert reached == {listeners["loopback"]: "False", listeners["alias"]: "False"}


def test_networked_sandbox_reaches_outside_addresses(attack, listeners):
    assert probe(attack, [listeners["outside"]], ["--network"]) == {listeners["outside"]: "True"}


def test_without_network_nothing_is_reachable(attack, listeners):
    targets = [listeners["loopback"], listeners["alias"], listeners["outside"]]
    assert set(probe(attack, targets, []).values()) == {"False"}


def test_networked_sandbox_has_its_own_namespace_and_resolver(attack):
    result = attack("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '; "
                    "cat /etc/resolv.conf", options=["--network"])
    assert result.stdout == "lo tap0 nameserver 10.0.2.3\n", result.describe()


def slirp_helpers() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "slirp4netns":
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def test_no_helper_outlives_the_sandbox(runner, repo):
    before = set(slirp_helpers())
    result = runner.sh(repo, "sleep 300 & echo up", ["--network"])
    assert result.stdout == "up\n", result.describe()
    timed_out = runner.sh(repo, "sleep 300", ["--network", "--timeout", "1"])
    assert timed_out.returncode == 124, timed_out.describe()
    time.sleep(0.2)
    assert set(slirp_helpers()) <= before


def test_sigkill_of_agentfense_kills_the_network_helper(runner, repo):
    before = set(slirp_helpers())
    marker = f"af-net-crash-{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [runner.binary, "run", "--network", "--env", f"AF_RUN_MARKER={marker}", str(repo),
         "--", "sh", "-c", "sleep 300"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (processes_mentioning([marker]) and set(slirp_helpers()) - before):
            assert proc.poll() is None, "agentfense exited before the sandbox started"
            assert time.monotonic() < deadline, "networked sandbox never started"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    assert_nothing_left(marker, repo, proc.pid, grace_seconds=10)
    deadline = time.monotonic() + 10
    while set(slirp_helpers()) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not set(slirp_helpers()) - before, "slirp4netns outlived its sandbox"
    assert runner.run(repo, ["true"]).returncode == 0  # sweeps the crashed run's directory
