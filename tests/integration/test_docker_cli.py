"""`agentfense run --runtime docker --image IMG` (issue 12): what only the docker runtime
has. The levels table and the escape suite run on both runtimes in their own modules
(RUNTIMES); the run behaviours shared with bwrap are parametrized in test_cli.py."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest

from conftest import TEST_IMAGE
from harness import assert_nothing_left, processes_mentioning
from rootfs import build_rootfs_tar


@pytest.fixture
def runtime() -> str:
    return "docker"


def test_the_callers_env_reaches_only_the_command(runner, repo):
    # A library that does not exist makes the dynamic loader complain once per process
    # that loads it: only the command's shell, never the prologue that starts it.
    result = runner.sh(repo, "true", ["--env", "LD_PRELOAD=/nonexistent/agentfense.so"])
    assert result.returncode == 0, result.describe()
    complaints = [line for line in result.stderr.splitlines() if "LD_PRELOAD" in line]
    assert len(complaints) == 1, result.describe()


def test_values_with_quotes_and_newlines_arrive_intact(runner, repo):
    value = "it's \"quoted\"\n$(id) `id` \\ end\n"
    result = runner.sh(repo, 'printf %s "$V"', ["--env", f"V={value}"])
    assert result.stdout == value, result.describe()


def test_env_names_a_shell_cannot_export_are_refused(runner, repo):
    result = runner.sh(repo, "true", ["--env", "A-B=1"])
    assert result.returncode == 2 and "portable" in result.stderr, result.describe()


def test_stdin_passes_through(runner, repo):
    proc = subprocess.run(
        [runner.binary, "run", *runner.runtime_options, str(repo), "--", "sh", "-c",
         "tr a-z A-Z; echo done"],
        input=b"hello from stdin\n", capture_output=True, timeout=120)
    assert proc.stdout == b"HELLO FROM STDIN\ndone\n", proc.stderr


def test_out_of_memory_is_exit_137(runner, repo):
    result = runner.run(repo, ["/usr/bin/python3", "-c", "bytearray(512 << 20)"],
                        ["--memory", "64M"])
    assert result.returncode == 137, result.describe()


def test_sigkill_of_agentfense_leaves_no_container(runner, repo, dockerd):
    marker = f"af-crash-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [runner.binary, "run", "--env", f"AF_RUN_MARKER={marker}", *runner.runtime_options,
         str(repo), "--", "sh", "-c", "sleep 300"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    label = f"io.agentfense.instance=run-{proc.pid}"
    try:
        deadline = time.monotonic() + 30
        # The command runs once a `sleep 300` besides agentfense's own command line holds
        # the marker in its environment.
        while not (dockerd.containers(label=label) and
                   [p for p in processes_mentioning([marker]) if f"pid {proc.pid}:" not in p]):
            assert proc.poll() is None, "agentfense exited before the command started"
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    # The container's keeper read the run's connection: it ends with it, and dockerd
    # removes the container.
    assert_nothing_left(marker, repo, proc.pid, grace_seconds=20)
    deadline = time.monotonic() + 20
    while dockerd.containers(label=label) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert dockerd.containers(label=label) == []


def test_missing_image_names_it(runner, repo, dockerd):
    image = f"agentfense-missing-{uuid.uuid4().hex[:8]}:1"
    result = runner.invoke(["run", "--runtime", "docker", "--image", image, "--docker-host",
                            dockerd.host, str(repo), "--", "true"])
    assert result.returncode == 1, result.describe()
    assert image in result.stderr and "never pulls" in result.stderr, result.describe()


def test_image_volumes_are_tmpfs_and_volumes_over_etc_refused(runner, repo, dockerd):
    # Docker would make a VOLUME a host directory in its data root; `run` covers it with a
    # tmpfs sized as /tmp, and refuses an image whose VOLUME would cover /etc.
    tag = f"agentfense-test-volume-{uuid.uuid4().hex[:8]}"
    rootfs = build_rootfs_tar(extra_dirs={"vol": 0o1777})
    dockerd.import_image(f"{tag}:ok", rootfs=rootfs, changes=("VOLUME /vol",))
    dockerd.import_image(f"{tag}:etc", rootfs=rootfs, changes=("VOLUME /etc/ssl",))
    base = ["run", "--runtime", "docker", "--docker-host", dockerd.host, "--memory", "64M"]
    try:
        result = runner.invoke([*base, "--image", f"{tag}:ok", str(repo), "--", "sh", "-c",
                                "grep ' /vol ' /proc/self/mountinfo | sed 's/.* - //'; "
                                "dd if=/dev/zero of=/vol/big bs=1M count=64 2>&1 | "
                                "grep -c 'No space left on device'"])
        assert result.returncode == 0, result.describe()
        assert result.stdout.startswith("tmpfs tmpfs rw,size=32768k"), result.describe()
        assert result.stdout.endswith("\n1\n"), result.describe()
        result = runner.invoke([*base, "--image", f"{tag}:etc", str(repo), "--", "true"])
        assert result.returncode != 0 and "VOLUME '/etc/ssl'" in result.stderr, result.describe()
        assert (dockerd.json("GET", "/volumes")["Volumes"] or []) == []
    finally:
        for image in (f"{tag}:ok", f"{tag}:etc"):
            dockerd.request("DELETE", f"/images/{image}")


def test_absent_dockerd_names_its_socket_at_once(runner, repo, tmp_path):
    socket = tmp_path / "docker.sock"
    started = time.monotonic()
    result = runner.invoke(["run", "--runtime", "docker", "--image", TEST_IMAGE,
                            "--docker-host", f"unix://{socket}", str(repo), "--", "true"])
    assert time.monotonic() - started < 15
    assert result.returncode == 1 and str(socket) in result.stderr, result.describe()


@pytest.mark.parametrize("args, message", [
    (["--image", TEST_IMAGE], "--image needs --runtime docker"),
    (["--runtime", "docker"], "--runtime docker needs --image"),
    (["--runtime", "firecracker"], "--runtime must be bwrap or docker"),
    (["--runtime", "docker", "--image", TEST_IMAGE, "--docker-host", "tcp://1.2.3.4:2375"],
     "unix:///"),
])
def test_bad_runtime_flags_are_usage_errors(runner, repo, args, message):
    result = runner.invoke(["run", *args, str(repo), "--", "true"])
    assert result.returncode == 2 and message in result.stderr, result.describe()
