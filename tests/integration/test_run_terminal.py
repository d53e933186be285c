"""`agentfense run` on a person's terminal: the command runs on it (stdin, stdout and
stderr are the caller's tty), so Ctrl-C, a hang-up or a kill reach `run` while the
command works, and the command can change the terminal's modes. Every test drives the
real CLI on a pseudo-terminal that is the controlling terminal of its session."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import termios
import time
import uuid
from pathlib import Path

import pytest

from harness import assert_nothing_left

RUN_DIRS = (Path("/run/agentfense"), Path("/var/lib/agentfense/cli-layers"))


class Terminal:
    """agentfense started as the foreground job of a fresh session whose controlling
    terminal is a new pty (what a shell does for a command typed at its prompt)."""

    def __init__(self, argv: list[str], env: dict[str, str], ignored: tuple = ()):
        """`ignored`: signals agentfense inherits as ignored (what nohup does)."""
        def start():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            # A shell starts the job it runs in the foreground with the default action
            # for these, whatever it inherited itself: pytest may run as a background job
            # of a script (SIGINT ignored) or under nohup (SIGHUP ignored), as CI does.
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN if sig in ignored else signal.SIG_DFL)
            for sig in ignored:
                signal.signal(sig, signal.SIG_IGN)

        self.primary, secondary = os.openpty()
        self.proc = subprocess.Popen(argv, stdin=secondary, stdout=secondary, stderr=secondary,
                                     env=env, start_new_session=True, preexec_fn=start)
        os.close(secondary)
        self.seen = b""

    def read_until(self, needle: bytes, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while needle not in self.seen and time.monotonic() < deadline:
            if not self._read_some(deadline - time.monotonic()):
                break
        return needle in self.seen

    def finish(self, seconds: float = 60) -> int:
        """Reads everything until agentfense exits; its exit status."""
        deadline = time.monotonic() + seconds
        while self._read_some(deadline - time.monotonic()):
            pass
        try:
            return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"agentfense did not exit:\n{self.text()}")

    def modes(self) -> list:
        return termios.tcgetattr(self.primary)

    def text(self) -> str:
        return self.seen.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.primary)

    def _read_some(self, seconds: float) -> bool:
        if seconds <= 0 or not select.select([self.primary], [], [], seconds)[0]:
            return False
        try:
            chunk = os.read(self.primary, 65536)
        except OSError:  # EIO: every process holding the terminal has closed it
            return False
        self.seen += chunk
        return bool(chunk)


def run_dirs_of(pid: int) -> list[str]:
    return [str(p) for root in RUN_DIRS if root.is_dir() for p in root.iterdir()
            if p.name.startswith(f"run-{pid}-")]


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
@pytest.mark.parametrize("stop", ["ctrl-c", signal.SIGTERM, signal.SIGHUP],
                         ids=["ctrl-c", "sigterm", "sighup"])
def test_interrupted_run_stops_the_command_and_leaves_nothing(runner, repo, stop):
    """A stop signal killed `run` outright: its run directory and write layer (what the
    command wrote, up to --disk) stayed on disk and the changes were never reviewed. Now
    the command's tree is stopped, the changes are listed but not applied, and the run
    ends with 128+signal leaving nothing behind."""
    marker = f"af-stop-{uuid.uuid4()}"
    argv = runner.argv(["run", "--env", f"AF_RUN_MARKER={marker}", *runner.runtime_options,
                        "--changes", "apply", str(repo), "--", "sh", "-c",
                        "echo partial > /workspace/output/partial.txt; echo READY; "
                        "exec sleep 300"])
    terminal = Terminal(argv, runner.environment())
    try:
        assert terminal.read_until(b"READY", 60), terminal.text()
        if stop == "ctrl-c":
            os.write(terminal.primary, b"\x03")
            sig = signal.SIGINT
        else:
            terminal.proc.send_signal(stop)
            sig = stop
        status = terminal.finish()
    finally:
        terminal.close()
    output = terminal.text()
    assert status == 128 + sig, output
    assert f"agentfense: interrupted by {sig.name}" in output, output
    assert "A /output/partial.txt" in output, output
    assert not (repo / "output" / "partial.txt").exists(), "an interrupted run applied"
    assert_nothing_left(marker, repo, terminal.proc.pid, grace_seconds=10)
    assert not run_dirs_of(terminal.proc.pid), output


def test_nohup_run_outlives_a_hangup(runner, repo):
    """`nohup agentfense run ...` starts it with SIGHUP ignored: a hang-up must not stop
    it (the stop signals are read only when not inherited as ignored)."""
    argv = runner.argv(["run", *runner.runtime_options, "--changes", "apply", str(repo), "--",
                        "sh", "-c", "echo READY; sleep 2; echo kept > /workspace/output/k.txt"])
    terminal = Terminal(argv, runner.environment(), ignored=(signal.SIGHUP,))
    try:
        assert terminal.read_until(b"READY", 60), terminal.text()
        terminal.proc.send_signal(signal.SIGHUP)
        status = terminal.finish()
    finally:
        terminal.close()
    assert status == 0 and "interrupted" not in terminal.text(), terminal.text()
    assert (repo / "output" / "k.txt").read_text() == "kept\n", terminal.text()


def assert_modes_as_before(before: list, after: list, output: str) -> None:
    lflag, oflag = after[3], after[1]
    for flag in ("ECHO", "ISIG", "ICANON"):
        assert lflag & getattr(termios, flag), (flag, output)
    assert oflag & termios.OPOST, output
    assert after == before, output


@pytest.mark.parametrize("stop", [None, signal.SIGTERM], ids=["exit", "sigterm"])
def test_command_cannot_leave_the_terminal_modes_changed(runner, repo, stop):
    """The command holds the caller's terminal and may change its modes: `stty -echo
    -isig -icanon -opost` stayed in force after `run` exited (the next password prompt
    echoed nothing, Ctrl-C did nothing). `run` puts the modes back when the command
    ends, also when a signal stops it. (Under --runtime docker the command's stdio are
    the exec's streams, not the terminal: nothing to restore there.)"""
    argv = runner.argv(["run", *runner.runtime_options, "--changes", "discard", str(repo), "--",
                        "sh", "-c", "stty -echo -isig -icanon -opost; echo READY; "
                        + ("exec sleep 300" if stop else "true")])
    terminal = Terminal(argv, runner.environment())
    try:
        before = terminal.modes()
        assert terminal.read_until(b"READY", 60), terminal.text()
        if stop:
            assert not terminal.modes()[3] & termios.ECHO, "the command's stty did not run"
            terminal.proc.send_signal(stop)
        status = terminal.finish()
        after = terminal.modes()
    finally:
        terminal.close()
    assert status == (128 + stop if stop else 0), terminal.text()
    assert_modes_as_before(before, after, terminal.text())
