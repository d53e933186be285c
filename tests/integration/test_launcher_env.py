"""Issue 9 item 2: the caller's environment reaches the command, never a launcher.

`--env` used to become bubblewrap's own environment: a loader variable then ran the
caller's library inside `bwrap` on the host (host namespaces, no seccomp), reaching a
library the agent built in /output through the workspace fd bwrap holds. Every helper
(bwrap, the fs process) now runs with a fixed environment and the command's variables
travel in bwrap's --args memfd, so they are not on any helper's command line either.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

from harness import agentfense_bin

HELPER_ENVIRONMENT = b"PATH=/usr/sbin:/usr/bin:/sbin:/bin\0"

MARKER_LIBRARY = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void announce(void) {
  const char *marker = getenv("AF_MARKER");
  char exe[256] = "?";
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) exe[n] = 0;
  int fd = marker ? open(marker, O_WRONLY | O_CREAT | O_APPEND, 0666) : -1;
  if (fd >= 0) { dprintf(fd, "%d %s\n", (int)getpid(), exe); close(fd); }
}
unsigned int la_version(unsigned int v) { return v; }
"""


def build_marker_library(repo: Path) -> None:
    """What the issue's agent compiled into the writable /output (and got applied)."""
    source = repo.parent / "marker.c"
    source.write_text(MARKER_LIBRARY)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(repo / "output" / "x.so"), str(source)],
                   check=True)
    os.chmod(repo / "output" / "x.so", 0o755)


def through_any_fd(path_in_workspace: str) -> str:
    """The library through every fd number bwrap might hold the workspace on."""
    return " ".join(f"/proc/self/fd/{fd}/{path_in_workspace}" for fd in range(3, 24))


def test_ld_preload_through_the_workspace_fd_never_runs_on_the_host(runner, repo):
    build_marker_library(repo)
    marker = Path(f"/tmp/af-preload-marker-{uuid.uuid4().hex}")
    try:
        # The command, with the fd number left open.
        result = runner.run(repo, ["true"], [
            "--env", f"LD_PRELOAD={through_any_fd('output/x.so')}",
            "--env", f"AF_MARKER={marker}"])
        assert result.returncode == 0, result.describe()
        assert not marker.exists(), ("the caller's library ran outside the sandbox:\n"
                                     + marker.read_text())
    finally:
        marker.unlink(missing_ok=True)


def test_loader_variables_still_reach_the_command(runner, repo):
    build_marker_library(repo)
    marker = Path(f"/tmp/af-preload-marker-{uuid.uuid4().hex}")
    try:
        for variable in ("LD_PRELOAD", "LD_AUDIT"):
            result = runner.sh(repo, f'echo "${variable}"; cat "$AF_MARKER"', [
                "--env", f"{variable}=/workspace/output/x.so",
                "--env", f"AF_MARKER={marker}"])
            # The command's loader ran it, in the sandbox's private /tmp.
            assert result.stdout.startswith("/workspace/output/x.so\n"), result.describe()
            assert "/usr/bin/cat" in result.stdout, result.describe()
            assert not marker.exists(), marker.read_text()
    finally:
        marker.unlink(missing_ok=True)


def descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found += children
        frontier += children
    return found


def test_helpers_run_with_a_fixed_environment_and_no_value_on_a_command_line(repo, secrets):
    """bwrap (outer and the sandbox's init) and the fs process: exactly our environment,
    none of the CLI's (AF_HOST_SECRET) and none of --env; no --env value in any command
    line but the caller's own."""
    value = f"envvalue{uuid.uuid4().hex}"
    env = dict(os.environ, AF_HOST_SECRET=secrets["host_env"],
               LD_PRELOAD="", GCONV_PATH=f"/{value}")
    proc = subprocess.Popen(
        [agentfense_bin(), "run", "--env", f"TOKEN={value}", "--env", f"BASH_ENV=/{value}",
         "--env", f"LD_LIBRARY_PATH=/{value}", str(repo), "--", "sh", "-c",
         'echo "$TOKEN"; exec sleep 30'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        assert proc.stdout.readline().decode().strip() == value  # the command has it
        deadline = time.monotonic() + 30
        while True:  # until the command has become `sleep`
            seen = helpers_of(proc.pid)
            comms = sorted(comm for comm, _, _ in seen.values())
            if "sleep" in comms or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        # The fs process (agentfense-fs, next to agentfense), then the two bwraps.
        assert comms == ["agentfense-fs", "bwrap", "bwrap", "sleep"], comms
        for pid, (comm, environ, cmdline) in seen.items():
            if comm == "sleep":
                assert f"TOKEN={value}".encode() in environ
                assert secrets["host_env"].encode() not in environ
                continue
            assert environ == HELPER_ENVIRONMENT, (pid, comm, environ[:300])
            assert value.encode() not in cmdline, (pid, comm, cmdline)
        others = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                  if pid != proc.pid and value.encode() in _cmdline(pid)]
        assert not others, [(_cmdline(pid)) for pid in others]
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
        time.sleep(0.2)


def helpers_of(root: int) -> dict[int, tuple[str, bytes, bytes]]:
    seen = {}
    for pid in descendants(root):
        try:
            seen[pid] = (Path(f"/proc/{pid}/comm").read_text().strip(),
                         Path(f"/proc/{pid}/environ").read_bytes(),
                         Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:
            continue
    return seen


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
