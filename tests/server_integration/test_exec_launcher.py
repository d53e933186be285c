"""The exec launcher (src/runtime/exec_launcher.h): a server sandbox's one-shot commands
are forked by a small launcher that lives in the sandbox's boundary, as the same uid as
the commands. Everything a command can try against it must fail or cost it nothing: it
cannot read or trace the launcher, reach its sockets or any host fd, and killing it only
ends the command that did it - the next command runs as usual. And one command finds
nothing of the previous one in /tmp, /dev/shm or SysV IPC, as with a boundary of its own."""

import os
import shutil

from conftest import run
from server_harness import sb

# The command's shell is a child of the launcher: $PPID.
PROBE_LAUNCHER = r"""
L=$PPID
echo "launcher=$L self=$$"
for f in environ maps mem auxv stack syscall; do
  head -c1 /proc/$L/$f >/dev/null 2>&1 && echo "READ:$f"
done
ls /proc/$L/fd >/dev/null 2>&1 && echo "READ:fd"
ls /proc/$L/fdinfo >/dev/null 2>&1 && echo "READ:fdinfo"
readlink /proc/$L/cwd >/dev/null 2>&1 && echo "READ:cwd"
readlink /proc/$L/exe >/dev/null 2>&1 && echo "READ:exe"
for n in 0 1 2 3 4 5 6 7 8 9 10; do
  (echo forged > /proc/$L/fd/$n) 2>/dev/null && echo "WROTE:fd$n"
done
python3 - "$L" <<'EOF'
import ctypes, os, sys
print("fds", sorted(os.listdir("/proc/self/fd")))
pid = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_SEIZE = 16, 0x4206
for req in (PTRACE_ATTACH, PTRACE_SEIZE):
    if libc.ptrace(req, pid, 0, 0) == 0:
        print("TRACED", req)
SYS_pidfd_open, SYS_pidfd_getfd = 434, 438
pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
if pidfd >= 0:
    for n in range(12):
        if libc.syscall(SYS_pidfd_getfd, pidfd, n, 0) >= 0:
            print("GOTFD", n)
EOF
for fd in /proc/$$/fd/*; do echo "shell fd $(readlink $fd)"; done
"""


def test_a_command_cannot_read_trace_or_write_the_launcher(server, sandbox):
    r = run(server, sandbox, PROBE_LAUNCHER)
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert "launcher=" in out, out
    for leak in ("READ:", "WROTE:", "TRACED", "GOTFD"):
        assert leak not in out, out
    # Nothing but stdio reaches the command (python's own listing fd aside; the shell's
    # are stdio and its own pipes).
    assert "fds ['0', '1', '2', '3']" in out, out
    shell_fds = [line for line in out.splitlines() if line.startswith("shell fd ")]
    assert shell_fds and all(("pipe:" in line or "/dev/null" in line) for line in shell_fds), out


def test_killing_the_launcher_ends_only_that_command(server, sandbox):
    first = run(server, sandbox, "kill -9 $PPID; sleep 5; echo survived")
    assert "survived" not in first.stdout, first
    for _ in range(3):
        r = run(server, sandbox, "echo ok; id -u; ls /workspace/README.md")
        assert r.exit_code == 0, r.stderr
        assert r.stdout == "ok\n1000\n/workspace/README.md\n", r.stdout


def test_stopping_the_launcher_ends_only_that_command(server, sandbox):
    first = run(server, sandbox, "kill -STOP $PPID; echo stopped")
    assert first.exit_code == 0 and first.stdout == "stopped\n", first
    r = run(server, sandbox, "echo ok", timeout=_seconds(30))
    assert r.exit_code == 0 and r.stdout == "ok\n", r


def test_the_next_command_finds_nothing_of_the_last(server, sandbox):
    # Left in every way a command can: files (one in a directory it cannot enter), shared
    # memory, SysV objects of mode 0 (listed by nobody but their owner), a daemon.
    leave = ("echo x > /tmp/left && mkdir -p /tmp/d/e && touch /tmp/d/e/f && chmod 0 /tmp/d; "
             "(echo y > /dev/shm/left) 2>/dev/null; "
             "ipcmk -M 4096 -p 0 && ipcmk -Q -p 0 && ipcmk -S 1 -p 0 && "
             "ipcs -u | grep -E 'segments allocated|allocated queues|used arrays'; "
             "(sleep 60 &) ; echo left")
    r = run(server, sandbox, leave)
    assert r.exit_code == 0 and "left" in r.stdout, r
    assert "segments allocated 1" in r.stdout, r.stdout  # the check below can see them
    check = ('echo "tmp=[$(ls -A /tmp)] shm=[$(ls -A /dev/shm 2>/dev/null)]"; '
             "ipcs -u | grep -E 'segments allocated|allocated queues|used arrays'; "
             'echo "sleepers=$(grep -l sleep /proc/[0-9]*/comm 2>/dev/null | wc -l)"')
    r = run(server, sandbox, check)
    assert r.stdout.splitlines() == ["tmp=[] shm=[]", "allocated queues = 0",
                                     "segments allocated 0", "used arrays = 0",
                                     "sleepers=0"], r.stdout


def test_dev_keeps_nothing_and_cannot_capture_the_next_commands_output(server, sandbox):
    """/dev was a tmpfs the agent could write and no command emptied: a command could
    point /dev/stdout into the workspace and read what the next one printed, or park
    files there past the memory limit."""
    plant = ("ln -sf /workspace/output/captured /dev/stdout; echo x > /dev/parked; "
             "echo shm > /dev/shm/f && cat /dev/shm/f; echo null > /dev/null && echo wrote")
    r = run(server, sandbox, plant)
    assert r.stdout.splitlines() == ["shm", "wrote"], (r.stdout, r.stderr)
    assert "Read-only file system" in r.stderr or "Permission denied" in r.stderr, r.stderr
    run(server, sandbox, "echo TOKEN=caller-secret > /dev/stdout")
    r = run(server, sandbox, "ls -A /dev/shm; ls /dev/parked; cat output/captured")
    assert r.stdout == "", r.stdout  # /dev/shm emptied, nothing parked, nothing captured
    assert "/dev/parked" in r.stderr and "output/captured" in r.stderr, r.stderr


def _seconds(n: int):
    from google.protobuf.duration_pb2 import Duration
    return Duration(seconds=n)


def test_launcher_program_missing_falls_back_to_a_boundary_per_command(tmp_path):
    """A server whose directory has no agentfense-launcher runs every command in a
    boundary of its own, with the same results."""
    from conftest import make_codebase, make_sandbox
    from server_harness import Server, agentfense_bin
    real = os.path.realpath(agentfense_bin())
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("agentfense", "agentfense-server"):
        shutil.copy2(os.path.join(os.path.dirname(real), name), bindir / name)
    data = tmp_path / "data"
    data.mkdir()
    srv = Server(str(data), program=str(bindir / "agentfense")).start()
    try:
        sandbox_id = make_sandbox(srv, make_codebase(srv))
        r = run(srv, sandbox_id, "echo ok; echo x > /tmp/a; cat /tmp/a; exit 4")
        assert (r.exit_code, r.stdout) == (4, "ok\nx\n"), r
        assert "exec.launcher_unavailable" in srv.read_log()
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    finally:
        assert srv.stop() == 0
