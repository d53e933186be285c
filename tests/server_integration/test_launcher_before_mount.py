"""A server sandbox's exec launcher starts while its fs process is still starting and
mounting (src/runtime/workspace_attach.h): bwrap and the first spare's cgroup move are
then off the first command's path. What that must never change: a command sees the FUSE
mount at /workspace and nothing else there, nothing mounted inside the sandbox reaches
the host (or the other way), the host's mount table holds the sandbox's FUSE mount and
nothing more, and a start that fails leaves no launcher, mount or cgroup behind."""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from pathlib import Path

import grpc
import pytest

from conftest import make_codebase, make_sandbox, run
from server_harness import (AGENT_SAFE, Server, agentfense_bin, descendants, mounts_under, sb,
                            serving)

DEBUG = "logging:\n  level: debug\n"


@pytest.fixture(scope="module")
def server():
    yield from serving("af-early-", config=DEBUG)


VIEW = r"""
echo "ppid=$PPID"
stat -c 'dev=%d' /workspace /workspace/README.md
grep ' /workspace ' /proc/self/mountinfo
cat /workspace/README.md
"""


def test_the_first_command_sees_the_fuse_mount_through_the_early_launcher(server):
    codebase = make_codebase(server)
    sandbox = make_sandbox(server, codebase)
    try:
        r = run(server, sandbox, VIEW)
        assert r.exit_code == 0, r.stderr
        lines = r.stdout.splitlines()
        # A child of the launcher, not of a boundary of its own (bwrap's pid 1).
        assert lines[0].startswith("ppid=") and lines[0] != "ppid=1", r.stdout
        # /workspace and a file in it: the same (FUSE) device.
        assert lines[1] == lines[2] and lines[1].startswith("dev="), r.stdout
        mount = [line for line in lines if " /workspace " in line]
        assert len(mount) == 1, r.stdout  # one mount there: nothing under it, nothing over it
        fields = mount[0].split(" - ")
        assert fields[1].startswith("fuse.agentfense "), mount
        head = fields[0].split()
        assert "nosuid" in head[5] and "nodev" in head[5], mount
        # Private: no peer group with the host, no master to receive mounts from.
        assert not any(f.startswith(("shared:", "master:")) for f in head[6:]), mount
        assert "# Sample" in r.stdout, r.stdout
        log = server.read_log()
        assert "exec.workspace_attached" in log, log
        assert "exec.workspace_attach_failed" not in log, log
        # On the host: the sandbox's FUSE mount, nothing else of it.
        mine = [m for m in mounts_under(server.data_dir) if sandbox in m]
        assert len(mine) == 1 and mine[0].endswith("/mnt"), mine
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def test_a_mount_inside_the_sandbox_cannot_be_made_nor_reach_the_host(server):
    codebase = make_codebase(server)
    sandbox = make_sandbox(server, codebase)
    try:
        # The other suites mount and unmount beside this one: compare what is ours only.
        before = mounts_under(server.data_dir)
        r = run(server, sandbox,
                "mkdir -p /workspace/output/m; "
                "mount -t tmpfs none /workspace/output/m && echo MOUNTED; "
                "unshare -rm mount -t tmpfs none /workspace/output/m && echo USERNS; "
                "python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); "
                "print(\"raw\", l.mount(b\"none\", b\"/workspace/output/m\", b\"tmpfs\", 0, None), "
                "ctypes.get_errno())'; echo done")
        assert "MOUNTED" not in r.stdout and "USERNS" not in r.stdout, r
        assert "raw -1" in r.stdout and "done" in r.stdout, r
        assert mounts_under(server.data_dir) == before
        assert not [m for m in mounts_under("/") if m.endswith("/output/m")]
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def spare_cgroups(server_pid: int) -> list[str]:
    """The exec cgroups this server made (exec-<pid>-<n>), in any hierarchy."""
    found = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(root, d) for d in dirs if d.startswith(f"exec-{server_pid}-")]
        dirs[:] = [d for d in dirs if not d.startswith("exec-")]
    return found


def fake_fs(tmp_path: Path, script: str) -> Server:
    """A server whose fs program is `script` ({real} in it: the real one)."""
    real = os.path.dirname(os.path.realpath(agentfense_bin()))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("agentfense", "agentfense-server", "agentfense-launcher"):
        shutil.copy2(os.path.join(real, name), bindir / name)
    fs = bindir / "agentfense-fs"
    fs.write_text("#!/bin/sh\n" + script.replace("{real}", os.path.join(real, "agentfense-fs")))
    fs.chmod(fs.stat().st_mode | stat.S_IXUSR)
    data = tmp_path / "data"
    data.mkdir()
    return Server(str(data), config=DEBUG, program=str(bindir / "agentfense")).start()


def alive_descendants(pid: int) -> list[int]:
    out = []
    for p in descendants(pid):
        try:
            if "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1][:3]:
                out.append(p)
        except OSError:
            pass
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_an_fs_that_dies_at_start_leaves_no_launcher_mount_or_cgroup(tmp_path):
    # Long enough for the launcher to start, its spare to be forked and moved.
    srv = fake_fs(tmp_path, "sleep 1; exit 3\n")
    try:
        codebase = make_codebase(srv)
        sandbox = srv.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
            codebase_id=codebase, permissions=AGENT_SAFE))
        failed = []
        starter = threading.Thread(target=lambda: failed.append(_start_fails(srv, sandbox.id)))
        starter.start()
        seen_bwrap = seen_cgroup = False
        while starter.is_alive():
            seen_bwrap |= any(comm(p) == "bwrap" for p in alive_descendants(srv.proc.pid))
            seen_cgroup |= bool(spare_cgroups(srv.proc.pid))
            time.sleep(0.02)
        starter.join()
        assert failed == [True]
        # The launcher's bwrap ran, and its spare had a cgroup, while the fs was starting.
        assert seen_bwrap and seen_cgroup, (seen_bwrap, seen_cgroup)
        deadline = time.time() + 10
        while time.time() < deadline:
            left = alive_descendants(srv.proc.pid)
            if not left and not spare_cgroups(srv.proc.pid):
                break
            time.sleep(0.1)
        assert left == [], [Path(f"/proc/{p}/cmdline").read_bytes() for p in left]
        assert spare_cgroups(srv.proc.pid) == []
        assert mounts_under(srv.data_dir) == []
    finally:
        srv.stop()


def _start_fails(srv: Server, sandbox_id: str) -> bool:
    try:
        srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
    except grpc.RpcError:
        return True
    return False


def test_an_fs_slower_than_bwrap_still_serves_the_first_command(tmp_path):
    srv = fake_fs(tmp_path, 'sleep 0.3; exec {real} "$@"\n')
    try:
        sandbox = make_sandbox(srv, make_codebase(srv))
        r = run(srv, sandbox, VIEW)
        assert r.exit_code == 0 and "# Sample" in r.stdout, r
        assert "exec.workspace_attached" in srv.read_log()
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))
    finally:
        srv.stop()
