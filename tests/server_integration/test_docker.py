"""The docker runtime (issue 12) end to end: a real dockerd (tests/docker), the real
server, sandboxes whose commands run in a container of the test image.

What bwrap and docker share is tested on both by test_sandboxes.py and test_sessions.py
(RUNTIMES); this module holds what only a container has or must prove again in one: the
boundary's hardening, limits, the container's lifecycle and crash hygiene, dockerd or an
image missing, and session forgery through the channel a container uses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from conftest import (NO_BASH_IMAGE, SECRET, TEST_IMAGE, docker_config, download, make_codebase,
                      make_sandbox, run, runtime_kw)
from rootfs import build_rootfs_tar
from server_harness import AGENT_SAFE, Server, common, mounts_under, reason_of, sb

DOCKER = runtime_kw("docker")
UID_RANGE = range(1879048192, 1879113728)


def docker_sandbox(server, codebase_id, **kw):
    return make_sandbox(server, codebase_id, **{**DOCKER, **kw})


def containers_of(dockerd, sandbox_id: str) -> list[dict]:
    return dockerd.containers(label=f"io.agentfense.sandbox={sandbox_id}")


def host_processes(needle: str) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if needle in line and "ps -eo" not in line]


def wait_until(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def dsandbox(server, codebase):
    sandbox_id = docker_sandbox(server, codebase)
    yield sandbox_id
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def session_of(server, sandbox_id, **kw) -> str:
    return server.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox_id, **kw)).id


def sh(server, session_id, command, timeout=None):
    kw = {"timeout": Duration(seconds=timeout)} if timeout else {}
    return server.sandboxes.SessionExec(sb.SessionExecRequest(session_id=session_id,
                                                              command=command, **kw))


# --- the boundary ---------------------------------------------------------------------


def test_hardened_by_default(server, dsandbox):
    r = run(server, dsandbox, "id -u; id -g; grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|"
                              "Seccomp):' /proc/self/status; cat /proc/sys/kernel/hostname")
    lines = r.stdout.splitlines()
    assert int(lines[0]) in UID_RANGE and lines[0] == lines[1], r.stdout
    fields = dict(line.split(":\t") for line in lines[2:-1])
    for cap in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert int(fields[cap], 16) == 0, r.stdout
    assert fields["NoNewPrivs"].strip() == "1" and fields["Seccomp"].strip() == "2"
    assert lines[-1] == "agentfense"


def test_root_filesystem_read_only_tmp_private_and_sized(server, codebase):
    sandbox_id = docker_sandbox(server, codebase,
                                resources=common.ResourceLimits(memory_bytes=256 << 20))
    try:
        r = run(server, sandbox_id, "touch /usr/x /etc/x /x 2>&1; echo hi > /tmp/t && cat /tmp/t; "
                                    "df -B1 --output=size /tmp | tail -1")
        assert r.stdout.count("Read-only file system") == 3, r.stdout
        assert "hi" in r.stdout.splitlines()
        assert int(r.stdout.split()[-1]) == 128 << 20  # half the memory limit, as bwrap's
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


# What dockerd itself binds into every container: its generated name files and its init.
DOCKERS_OWN_BINDS = {"/etc/resolv.conf", "/etc/hostname", "/etc/hosts", "/sbin/docker-init",
                     "/usr/sbin/docker-init"}


def test_nothing_of_the_host_inside(server, dsandbox):
    r = run(server, dsandbox, "find / -xdev -name '*.sock' 2>/dev/null; echo ---; "
                              "cat /proc/self/mountinfo; echo ---; env")
    sockets, mountinfo, env = r.stdout.split("---\n")
    assert sockets == "", sockets
    mounts = {}
    for line in mountinfo.splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        mounts[fields[4]] = fstype
    assert mounts["/workspace"].startswith("fuse"), mountinfo
    assert mounts["/tmp"] == "tmpfs" and mounts["/run/agentfense"] == "tmpfs"
    # Every other mount is one of the kernel's (proc, sysfs, cgroup, devpts, ...), a tmpfs,
    # the image itself, or one of dockerd's own files: no directory of the host.
    host_binds = {m for m, fstype in mounts.items()
                  if fstype not in ("proc", "sysfs", "cgroup", "cgroup2", "tmpfs", "devpts",
                                    "mqueue", "overlay") and not fstype.startswith("fuse")}
    assert host_binds <= DOCKERS_OWN_BINDS, host_binds
    assert "SECRET" not in env and "AGENTFENSE" not in env


VOLUMES_IMAGE = "agentfense-test-volumes:1"
WORKSPACE_VOLUME_IMAGE = "agentfense-test-volume-workspace:1"
ETC_VOLUME_IMAGE = "agentfense-test-volume-etc:1"


@pytest.fixture(scope="module")
def volume_images(dockerd):
    """Images that declare VOLUMEs, their directories open to all (1777) as in images
    such as postgres' (PGDATA)."""
    rootfs = build_rootfs_tar(extra_dirs={"vol": 0o1777, "var/lib/data": 0o1777,
                                          "workspace/cache": 0o1777})
    dockerd.import_image(VOLUMES_IMAGE, rootfs=rootfs,
                         changes=("VOLUME /vol /var/lib/data/ /tmp",))
    dockerd.import_image(WORKSPACE_VOLUME_IMAGE, rootfs=rootfs,
                         changes=("VOLUME /workspace/cache",))
    dockerd.import_image(ETC_VOLUME_IMAGE, rootfs=rootfs, changes=("VOLUME /etc/ssl",))


def volumes_of(dockerd) -> list[dict]:
    return dockerd.json("GET", "/volumes")["Volumes"] or []


def test_image_volumes_are_sized_tmpfs_not_host_directories(server, codebase, dockerd,
                                                           volume_images):
    # Docker would make each VOLUME an anonymous volume: a host directory under its data
    # root, writable past the disk quota. Each is a tmpfs sized as /tmp instead.
    sandbox_id = docker_sandbox(server, codebase, image=VOLUMES_IMAGE,
                                resources=common.ResourceLimits(memory_bytes=128 << 20,
                                                                disk_bytes=8 << 20))
    try:
        assert volumes_of(dockerd) == []
        [container] = containers_of(dockerd, sandbox_id)
        mounts = dockerd.json("GET", f"/containers/{container['Id']}/json")["Mounts"]
        assert [(m["Type"], m["Destination"]) for m in mounts] == [("bind", "/workspace")]
        r = run(server, sandbox_id, "grep -E ' /(vol|var/lib/data|tmp) ' /proc/self/mountinfo; "
                                    "df -B1 --output=size /vol /var/lib/data | tail -2; "
                                    "dd if=/dev/zero of=/vol/big bs=1M count=100 2>&1 | "
                                    "grep -o 'No space left on device' | head -1; "
                                    "du -sm /vol | cut -f1; rm /vol/big")
        lines = [line.strip() for line in r.stdout.splitlines()]
        fstypes = {line.split()[4]: line.split(" - ")[1].split()[0] for line in lines[:3]}
        assert fstypes == {"/vol": "tmpfs", "/var/lib/data": "tmpfs", "/tmp": "tmpfs"}, r.stdout
        assert lines[3:5] == [str(64 << 20)] * 2, r.stdout  # half the memory limit, as /tmp
        assert lines[5:] == ["No space left on device", "64"], r.stdout
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


@pytest.mark.parametrize("image, volume", [(WORKSPACE_VOLUME_IMAGE, "/workspace/cache"),
                                           (ETC_VOLUME_IMAGE, "/etc/ssl")])
def test_an_image_volume_over_the_sandbox_is_refused_naming_it(server, codebase, dockerd,
                                                                volume_images, image, volume):
    with pytest.raises(grpc.RpcError) as e:
        docker_sandbox(server, codebase, image=image)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert image in e.value.details() and f"VOLUME '{volume}'" in e.value.details()
    # The image changed under the tag between create and start: refused at start too.
    tag = f"agentfense-test-retagged:{uuid.uuid4().hex[:8]}"
    repo, version = tag.split(":")
    dockerd.json("POST", f"/images/{TEST_IMAGE}/tag?repo={repo}&tag={version}")
    sandbox_id = docker_sandbox(server, codebase, image=tag, start=False)
    try:
        dockerd.json("POST", f"/images/{image}/tag?repo={repo}&tag={version}")
        with pytest.raises(grpc.RpcError) as e:
            server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"VOLUME '{volume}'" in e.value.details()
        assert containers_of(dockerd, sandbox_id) == [] and volumes_of(dockerd) == []
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
        dockerd.json("DELETE", f"/images/{tag}")


def test_no_network_and_no_host_loopback(server, dsandbox):
    r = run(server, dsandbox, "python3 - <<'EOF'\n"
            "import socket\n"
            "for target in [('1.1.1.1', 53), ('127.0.0.1', 22)]:\n"
            "    s = socket.socket(); s.settimeout(2)\n"
            "    print(s.connect_ex(target) != 0)\n"
            "print(sorted(open('/proc/net/dev').read().split()[-17:-16]))\n"
            "EOF")
    assert r.stdout.splitlines()[:2] == ["True", "True"], r.stdout + r.stderr
    assert "eth0" not in r.stdout


def test_syscalls_refused_as_under_bwrap(server, dsandbox):
    # ptrace, unshare, mount and vsock: Docker's default profile allows the first and the
    # last; ours (the bwrap filter's rules) refuses all four.
    r = run(server, dsandbox, "python3 - <<'EOF'\n"
            "import ctypes, os, socket\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "print(libc.ptrace(0, 0, 0, 0), ctypes.get_errno())\n"
            "print(libc.unshare(0x10000000), ctypes.get_errno())\n"
            "print(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None), ctypes.get_errno())\n"
            "try:\n"
            "    socket.socket(40, socket.SOCK_STREAM); print('vsock')\n"
            "except OSError as e:\n"
            "    print('vsock', e.errno)\n"
            "EOF")
    assert r.stdout.split() == ["-1", "1", "-1", "1", "-1", "1", "vsock", "97"], r.stdout + r.stderr


def test_levels_hold_in_the_container(server, codebase):
    from server_harness import rule
    sandbox_id = docker_sandbox(server, codebase,
                                rules=AGENT_SAFE + [rule("/docs/api.md", "view", 50, "FILE")])
    try:
        r = run(server, sandbox_id, "ls -a; cat .env deploy.pem config/secrets/db.txt; "
                                    "cat docs/api.md; echo x >> README.md; ls -l docs/api.md; "
                                    "grep -rs SECRET /workspace /etc /tmp /run; echo new > output/n.txt")
        assert SECRET not in r.stdout + r.stderr
        assert ".env" not in r.stdout.split()
        assert r.stderr.count("No such file or directory") == 3, r.stderr
        assert "docs/api.md: Permission denied" in r.stderr
        assert "README.md: Read-only file system" in r.stderr or "Permission denied" in r.stderr
        assert download(server, codebase, "output/n.txt") == b"new\n"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


# --- limits -------------------------------------------------------------------------------


def test_out_of_memory_is_reported_as_such(server, codebase):
    sandbox_id = docker_sandbox(server, codebase,
                                resources=common.ResourceLimits(memory_bytes=64 << 20))
    try:
        r = run(server, sandbox_id, "python3 -c 'x = bytearray(512 << 20); print(len(x))'")
        assert r.exit_code == 137 and r.oom_killed, r
        ok = run(server, sandbox_id, "echo alive; kill -9 $$")
        assert ok.exit_code == 137 and not ok.oom_killed  # a SIGKILL is not an OOM
        outs = list(server.sandboxes.ExecStream(sb.ExecRequest(
            sandbox_id=sandbox_id, command="python3 -c 'bytearray(512 << 20)'")))
        assert outs[-1].type == sb.ExecOutput.OUTPUT_TYPE_EXIT and outs[-1].oom_killed
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_fork_bomb_is_stopped_by_the_pids_limit(server, codebase):
    sandbox_id = docker_sandbox(server, codebase, resources=common.ResourceLimits(pids_limit=64))
    try:
        r = run(server, sandbox_id, "b() { b | b & }; b; sleep 2; echo done",
                timeout=Duration(seconds=30))
        assert "done" in r.stdout or r.exit_code != 0
        assert run(server, sandbox_id, "echo still here").stdout == "still here\n"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
def test_cpu_quota_is_dockers_unit(server, codebase, runtime):
    # 25000 us per 100 ms period: a quarter of one CPU, the same on both runtimes.
    sandbox_id = make_sandbox(server, codebase, resources=common.ResourceLimits(cpu_quota=25000),
                              **runtime_kw(runtime))
    try:
        r = run(server, sandbox_id, "python3 -c \"import time, resource\n"
                                    "end = time.time() + 1.0\n"
                                    "while time.time() < end: pass\n"
                                    "print(resource.getrusage(resource.RUSAGE_SELF).ru_utime)\"")
        assert r.exit_code == 0, r.stderr
        assert 0.1 < float(r.stdout) < 0.45, r.stdout
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
def test_cpu_quota_below_the_minimum_is_refused(server, codebase, runtime):
    # 500 read as millicores would be half a CPU; in Docker's unit it is below the kernel's
    # 1 ms minimum, and a request means one thing on both runtimes.
    with pytest.raises(grpc.RpcError) as e:
        make_sandbox(server, codebase, resources=common.ResourceLimits(cpu_quota=500),
                     **runtime_kw(runtime))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "microseconds" in e.value.details()


def test_timeout_kills_only_the_commands_tree(server, dsandbox):
    marker = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    session = session_of(server, dsandbox)
    sh(server, session, f"sleep 1{marker} &")
    with pytest.raises(grpc.RpcError) as e:
        run(server, dsandbox, f"setsid sleep 2{marker} & (sleep 3{marker} &); sleep 4{marker}",
            timeout=Duration(seconds=1))
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert wait_until(lambda: not any(host_processes(f"sleep {n}{marker}") for n in (2, 3, 4)))
    # The session's job is another command's: it lives on.
    assert host_processes(f"sleep 1{marker}")


def test_daemons_do_not_outlive_a_normal_exit(server, dsandbox):
    marker = f"{2000 + uuid.uuid4().int % 1000}"
    r = run(server, dsandbox, f"setsid sleep {marker} >/dev/null 2>&1 & echo started")
    assert r.stdout == "started\n"
    assert wait_until(lambda: not host_processes(f"sleep {marker}"))


# --- lifecycle ----------------------------------------------------------------------------


def test_one_container_per_running_sandbox_removed_on_stop(server, codebase, dockerd):
    sandbox_id = docker_sandbox(server, codebase, start=False)
    assert containers_of(dockerd, sandbox_id) == []
    server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
    [container] = containers_of(dockerd, sandbox_id)
    assert container["Image"] == TEST_IMAGE and container["State"] == "running"
    got = server.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
    assert got.runtime == common.RUNTIME_TYPE_DOCKER and got.image == TEST_IMAGE
    server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
    assert wait_until(lambda: containers_of(dockerd, sandbox_id) == [])
    server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
    assert run(server, sandbox_id, "echo back").stdout == "back\n"
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    assert containers_of(dockerd, sandbox_id) == []


def test_default_image_is_used_and_recorded(server, codebase, dockerd):
    sandbox_id = make_sandbox(server, codebase, runtime=common.RUNTIME_TYPE_DOCKER)
    try:
        got = server.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
        assert got.image == TEST_IMAGE  # runtime.docker.default_image
        assert containers_of(dockerd, sandbox_id)[0]["Image"] == TEST_IMAGE
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_missing_image_is_a_precondition_naming_it(server, codebase):
    with pytest.raises(grpc.RpcError) as e:
        docker_sandbox(server, codebase, image="agentfense-no-such-image:1.0")
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(e.value) == "IMAGE_NOT_FOUND"
    assert "agentfense-no-such-image:1.0" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        docker_sandbox(server, codebase, image="bad image name")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_image_removed_before_start_fails_the_start_clearly(server, codebase, dockerd):
    tag = f"agentfense-test-gone:{uuid.uuid4().hex[:8]}"
    repo, version = tag.split(":")
    dockerd.json("POST", f"/images/{TEST_IMAGE}/tag?repo={repo}&tag={version}")
    sandbox_id = docker_sandbox(server, codebase, image=tag, start=False)
    dockerd.json("DELETE", f"/images/{tag}")
    with pytest.raises(grpc.RpcError) as e:
        server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert tag in e.value.details()
    assert containers_of(dockerd, sandbox_id) == []
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_session_needs_bash_in_the_image(server, codebase):
    sandbox_id = docker_sandbox(server, codebase, image=NO_BASH_IMAGE)
    try:
        assert run(server, sandbox_id, "echo sh works").stdout == "sh works\n"
        with pytest.raises(grpc.RpcError) as e:
            session_of(server, sandbox_id)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "bash" in e.value.details()
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_container_killed_underneath_is_a_clear_error(server, codebase, dockerd):
    sandbox_id = docker_sandbox(server, codebase)
    try:
        [container] = containers_of(dockerd, sandbox_id)
        dockerd.request("DELETE", f"/containers/{container['Id']}?force=1")
        with pytest.raises(grpc.RpcError) as e:
            run(server, sandbox_id, "true")
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "stop and start" in e.value.details()
        server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
        server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
        assert run(server, sandbox_id, "echo recovered").stdout == "recovered\n"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_kill_9_then_restart_leaves_no_container(dockerd):
    data_dir = tempfile.mkdtemp(prefix="af-docker-crash-")
    srv = Server(data_dir, config="runtime:\n" + docker_config(dockerd)).start()
    try:
        codebase_id = make_codebase(srv)
        ids = [docker_sandbox(srv, codebase_id) for _ in range(2)]
        session_of(srv, ids[0])
        assert all(containers_of(dockerd, i) for i in ids)
        srv.kill()
        # The containers die with the server (their keeper's stdin was its connection) ...
        assert wait_until(lambda: all(not containers_of(dockerd, i) for i in ids), 30)
        srv.start()
        # ... and a restart also removes what a dead server left (containers and the FUSE
        # mounts they bound), then starts afresh.
        assert "containers_removed" in srv.read_log()
        assert mounts_under(data_dir) == [], "restart must sweep a crashed server's mounts"
        srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=ids[0]))
        assert run(srv, ids[0], "echo again").stdout == "again\n"
        assert len(containers_of(dockerd, ids[0])) == 1 and not containers_of(dockerd, ids[1])
    finally:
        assert srv.stop() == 0, srv.read_log()
        shutil.rmtree(data_dir, ignore_errors=True)
    assert dockerd.containers(label=f"io.agentfense.sandbox={ids[0]}") == []


def test_restart_removes_containers_a_dead_server_left(dockerd):
    # A container that outlived its server (here: made to look like one) is swept at start.
    data_dir = tempfile.mkdtemp(prefix="af-docker-sweep-")
    srv = Server(data_dir, config="runtime:\n" + docker_config(dockerd)).start()
    try:
        instance = open(os.path.join(data_dir, "instance-id")).read().strip()
        created = dockerd.json("POST", "/containers/create", {
            "Image": TEST_IMAGE, "Entrypoint": ["/bin/sh", "-c", "sleep 1000"],
            "User": "1879113000:1879113000",
            "Labels": {"io.agentfense.instance": instance, "io.agentfense.sandbox": "sb_stale"},
            "HostConfig": {"NetworkMode": "none"}})
        dockerd.json("POST", f"/containers/{created['Id']}/start")
        srv.kill()
        srv.start()
        assert dockerd.containers(label=f"io.agentfense.instance={instance}") == []
    finally:
        assert srv.stop() == 0
        shutil.rmtree(data_dir, ignore_errors=True)


def test_network_mode_is_honoured_when_networking_is_enabled(dockerd):
    # runtime.docker.enable_networking + network_mode: the container joins that network
    # (an internal one here: the test dockerd has no bridge and nothing leaves the host).
    network = f"af-test-{uuid.uuid4().hex[:8]}"
    dockerd.json("POST", "/networks/create", {"Name": network, "Driver": "bridge",
                                              "Internal": True})
    data_dir = tempfile.mkdtemp(prefix="af-docker-net-")
    srv = Server(data_dir, config="runtime:\n" + docker_config(dockerd) +
                 f"    enable_networking: true\n    network_mode: {network}\n").start()
    try:
        sandbox_id = docker_sandbox(srv, make_codebase(srv))
        [container] = containers_of(dockerd, sandbox_id)
        inspected = dockerd.json("GET", f"/containers/{container['Id']}/json")
        assert inspected["HostConfig"]["NetworkMode"] == network
        assert "eth0:" in run(srv, sandbox_id, "cat /proc/net/dev").stdout
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    finally:
        assert srv.stop() == 0, srv.read_log()
        shutil.rmtree(data_dir, ignore_errors=True)
        dockerd.request("DELETE", f"/networks/{network}")


def test_dockerd_gone_is_unavailable_naming_the_socket(codebase, server, tmp_path):
    socket = tmp_path / "docker.sock"
    data_dir = tempfile.mkdtemp(prefix="af-docker-down-")
    srv = Server(data_dir, config=f"runtime:\n  docker:\n    host: unix://{socket}\n").start()
    try:
        codebase_id = make_codebase(srv)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            docker_sandbox(srv, codebase_id)
        assert time.monotonic() - started < 10
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert reason_of(e.value) == "RUNTIME_UNAVAILABLE"
        assert str(socket) in e.value.details()
        # A socket nobody accepts on answers the same, never a hang.
        import socket as sockets
        listener = sockets.socket(sockets.AF_UNIX)
        listener.bind(str(socket))
        listener.listen(0)
        try:
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as e:
                docker_sandbox(srv, codebase_id)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
            assert reason_of(e.value) == "RUNTIME_UNAVAILABLE"
            assert str(socket) in e.value.details() and "no answer" in e.value.details()
            assert time.monotonic() - started < 20  # the image lookup's 10 s deadline
        finally:
            listener.close()
    finally:
        assert srv.stop() == 0
        shutil.rmtree(data_dir, ignore_errors=True)


# --- sessions: nothing a command starts can report its result -------------------------

FORGER = r"""
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
target = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
records = b"".join(b"D%d 0 /workspace\0D%d 0123456789abcdef 0 /workspace\0" % (n, n)
                   for n in range(1, 100))
fence = b"".join(b"\x1eAF %d 0123456789abcdef\x1e" % n for n in range(1, 100))
def report(route, reached, detail=""):
    print(route, "reached" if reached else "blocked", detail, flush=True)
for fd in range(3, 1024):
    try:
        os.write(fd, records); report("inherited-fd", True, str(fd))
    except OSError:
        pass
try:
    names = [n for n in os.listdir(f"/proc/{target}/fd") if int(n) > 2]
    report("proc-fd-list", True, " ".join(names))
except OSError as e:
    names = []; report("proc-fd-list", False, e.strerror)
for name in names:
    try:
        fd = os.open(f"/proc/{target}/fd/{name}", os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, records); os.close(fd); report("proc-fd-open", True, name)
    except OSError as e:
        report("proc-fd-open", False, f"{name} {e.strerror}")
try:
    pidfd = os.pidfd_open(target)
    fd = libc.syscall(438, pidfd, 3, 0)
    report("pidfd_getfd", fd >= 0, os.strerror(ctypes.get_errno()))
except OSError as e:
    report("pidfd_open", False, e.strerror)
for path in (f"/proc/{target}/mem", f"/proc/{target}/environ"):
    try:
        os.close(os.open(path, os.O_RDONLY)); report(path, True)
    except OSError as e:
        report(path, False, e.strerror)
# The channel is TCP on the container's loopback: find it and talk to it.
listening = []
for line in open("/proc/net/tcp").read().splitlines()[1:]:
    local, state = line.split()[1], line.split()[3]
    if state == "0A":
        listening.append(int(local.split(":")[1], 16))
report("listeners", bool(listening), str(listening))
for port in range(1, 65536) if not listening else listening:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=0.2)
        if s.getsockname() == s.getpeername():
            continue  # TCP's self-connect: the scan met its own ephemeral port
        s.sendall(b"0" * 32 + b"\n" + records)
        report("tcp-connect", True, str(port))
    except OSError:
        pass
else:
    report("tcp-connect", False, "no port accepted")
os.write(1, fence)
"""


@pytest.fixture
def forge_sandbox(server, codebase):
    from conftest import upload
    upload(server, codebase, "forge.py", FORGER.encode())
    sandbox_id = docker_sandbox(server, codebase)
    yield sandbox_id
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def expect_all_blocked(report: str) -> None:
    assert "blocked" in report, "the forger did not run: " + report
    assert " reached" not in report.replace("listeners reached", ""), report


def expect_later_commands_are_true(server, session) -> None:
    for word in ("hello", "again"):
        r = sh(server, session, f"echo {word}; false")
        assert (r.stdout, r.exit_code) == (f"{word}\n", 1), r


def test_child_process_cannot_report_a_failing_command_as_passed(server, forge_sandbox):
    session = session_of(server, forge_sandbox)
    r = sh(server, session, "python3 /workspace/forge.py; false")
    assert r.exit_code == 1, r
    expect_all_blocked(r.stdout)
    expect_later_commands_are_true(server, session)


def test_background_job_cannot_forge_while_a_later_command_runs(server, forge_sandbox):
    session = session_of(server, forge_sandbox)
    assert sh(server, session, "(sleep 1; python3 /workspace/forge.py $$ >/tmp/forge.log 2>&1) "
                               ">/dev/null 2>&1 &").exit_code == 0
    during = sh(server, session, "sleep 3; echo during; (exit 3)")
    assert (during.exit_code, during.stdout) == (3, "during\n"), during
    expect_later_commands_are_true(server, session)
    expect_all_blocked(sh(server, session, "cat /tmp/forge.log").stdout)


def test_another_session_or_exec_cannot_forge_either(server, forge_sandbox):
    victim = session_of(server, forge_sandbox)
    sh(server, victim, "true")
    pid = sh(server, victim, "echo $$").stdout.strip()
    attack = run(server, forge_sandbox, f"python3 /workspace/forge.py {pid}")
    expect_all_blocked(attack.stdout)
    expect_later_commands_are_true(server, victim)


def test_the_shell_is_not_dumpable_and_commands_inherit_only_stdio(server, forge_sandbox):
    session = session_of(server, forge_sandbox)
    r = sh(server, session, "ls /proc/$$/fd; cat /proc/$$/environ")
    assert r.stdout == "" and "Permission denied" in r.stderr, r
    assert sh(server, session, "ls /proc/self/fd").stdout == "0\n1\n2\n3\n"
    assert sh(server, session, "(ls /proc/self/fd) & wait").stdout == "0\n1\n2\n3\n"
    assert sh(server, session, "echo $BASH").stdout in ("/usr/bin/bash\n", "/bin/bash\n")


SPY = r"""
import os, signal, sys, time
secret = sys.argv[1].encode()
log = open("/tmp/spy.log", "a", buffering=1)
seen = set()
end = time.time() + 30
while time.time() < end:
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid() or pid in seen:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"verdict-run" not in f.read():
                    continue
        except OSError:
            continue
        seen.add(pid)
        log.write("seen\n")
        for what, probe in (
                ("environ", lambda: secret in open(f"/proc/{pid}/environ", "rb").read()),
                ("stdin", lambda: os.close(os.open(f"/proc/{pid}/fd/0", os.O_RDWR))),
                ("stop", lambda: os.kill(int(pid), signal.SIGSTOP))):
            try:
                got = probe()
                log.write(f"{what} reached {'SECRET' if got else ''}\n")
            except OSError:
                log.write(f"{what} blocked\n")
    time.sleep(0.005)
"""


def test_a_sessions_leftovers_cannot_touch_a_later_exec(server, codebase):
    # All commands of a container share one uid and pid namespace: a session's background
    # job opened a later one-shot exec's /proc/<pid>/fd/0, read the caller's variables
    # from /proc/<pid>/environ, stopped it and made it report success (attack sweep F0).
    # Each command now runs in a Landlock domain of its own.
    from conftest import upload
    upload(server, codebase, "spy.py", SPY.encode())
    sandbox_id = docker_sandbox(server, codebase)
    try:
        session = session_of(server, sandbox_id)
        assert sh(server, session, "nohup python3 /workspace/spy.py caller-secret-42 "
                                   ">/dev/null 2>&1 &").exit_code == 0
        time.sleep(0.5)
        for _ in range(3):
            r = run(server, sandbox_id, ": verdict-run; sleep 1; echo checked; exit 1",
                    env={"API_TOKEN": "caller-secret-42"}, timeout=Duration(seconds=60))
            assert (r.exit_code, r.stdout) == (1, "checked\n"), r
        log = sh(server, session, "cat /tmp/spy.log").stdout
        assert log.count("seen") >= 3, log  # the spy did find each command
        assert "reached" not in log and log.count("blocked") >= 9, log
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


THIEF = r"""
import os, time
log = open("/tmp/thief.log", "a", buffering=1)
readers = []
for fd in (1, 2):
    try:
        readers.append(os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK))
        log.write(f"reopen {fd} reached\n")
    except OSError as e:
        log.write(f"reopen {fd} blocked {e.strerror}\n")
    os.set_blocking(fd, False)
    readers.append(fd)  # the inherited fd itself: a socket reads what is sent to us
stolen = open("/tmp/stolen", "ab", buffering=0)
end = time.time() + 8
while time.time() < end:
    for fd in readers:
        try:
            stolen.write(os.read(fd, 65536))
        except OSError:
            pass
    time.sleep(0.01)
"""


def test_a_background_job_cannot_read_later_session_output(server, codebase):
    # The shell's stdout was the exec's pipe, which containerd hands to the exec's user:
    # a job a command left reopened /proc/self/fd/1 for reading and took later commands'
    # output and fences, so results came back as exit 0 with their output missing
    # (attack sweep F4). Output now travels on sockets of the shell's own.
    from conftest import upload
    upload(server, codebase, "thief.py", THIEF.encode())
    sandbox_id = docker_sandbox(server, codebase)
    try:
        session = session_of(server, sandbox_id)
        assert sh(server, session, "python3 /workspace/thief.py &").exit_code == 0
        time.sleep(0.5)
        for n in range(6):
            r = sh(server, session, f"echo CALLER-OUT-{n}; echo CALLER-ERR-{n} >&2; (exit {n})")
            assert (r.exit_code, r.stdout, r.stderr) == (n, f"CALLER-OUT-{n}\n",
                                                         f"CALLER-ERR-{n}\n"), r
        time.sleep(8)
        log = sh(server, session, "cat /tmp/thief.log").stdout
        assert log.count("blocked") == 2 and "reached" not in log, log
        stolen = sh(server, session, "cat /tmp/stolen").stdout
        assert "CALLER" not in stolen and "AF" not in stolen, stolen
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_session_output_does_not_wait_for_dockerd(server, codebase, dockerd):
    # The output came through dockerd: with dockerd stalled past the 30 s its fences may
    # take, a command came back as exit 0 with its output missing, and that output opened
    # the next command's result (attack sweep F3). The output no longer passes through
    # dockerd: a command of a running session needs nothing of it.
    sandbox_id = docker_sandbox(server, codebase)
    session = session_of(server, sandbox_id)
    try:
        assert sh(server, session, "echo warm").stdout == "warm\n"
        os.kill(dockerd.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            first = sh(server, session, "echo FIRST-OUTPUT; (exit 4)")
            assert time.monotonic() - started < 10
        finally:
            os.kill(dockerd.proc.pid, signal.SIGCONT)
        assert (first.exit_code, first.stdout, first.stdout_truncated) == (
            4, "FIRST-OUTPUT\n", False), first
        second = sh(server, session, "echo SECOND")
        assert (second.exit_code, second.stdout) == (0, "SECOND\n"), second
    finally:
        os.kill(dockerd.proc.pid, signal.SIGCONT)
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_output_a_command_shut_is_not_reported_whole(server, dsandbox):
    # A command can end its session's output (shutdown of the socket it inherited): the
    # fence after it can then never arrive. The result says so, and the shell is replaced
    # rather than reporting a later command's output as this one's.
    session = session_of(server, dsandbox)
    shut = ("trap '' PIPE; python3 -c 'import os, socket; "
            "socket.socket(fileno=os.dup(1)).shutdown(socket.SHUT_WR)'; echo gone")
    r = sh(server, session, shut)
    assert r.stdout_truncated and "replaced" in r.stderr and "gone" not in r.stdout, r
    second = sh(server, session, "echo SECOND")
    assert (second.exit_code, second.stdout) == (0, "SECOND\n"), second


def test_session_env_reaches_commands_not_the_driver(server, forge_sandbox, codebase):
    from conftest import upload
    upload(server, codebase, "env.sh", b"echo SOURCED; exit 0\n")
    session = session_of(server, forge_sandbox, env={
        "SHELLOPTS": "errexit:xtrace", "BASH_ENV": "/workspace/env.sh",
        "LD_PRELOAD": "/workspace/missing.so", "QUOTED": "it's\n$(id)"})
    failing = sh(server, session, "false")
    assert (failing.exit_code, failing.stderr) == (1, ""), failing
    assert sh(server, session, 'printf %s "$QUOTED"').stdout == "it's\n$(id)"
    assert sh(server, session, 'echo "$BASH_ENV"').stdout == "/workspace/env.sh\n"
    assert sh(server, session, "bash -c 'echo child' 2>/dev/null").stdout == "SOURCED\n"


def test_session_timeout_replaces_a_stuck_shell(server, dsandbox):
    session = session_of(server, dsandbox)
    sh(server, session, "cd /workspace/src; trap '' USR1")
    with pytest.raises(grpc.RpcError) as e:
        sh(server, session, "while :; do :; done", timeout=1)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    r = sh(server, session, "pwd")
    assert r.stdout == "/workspace/src\n", r
