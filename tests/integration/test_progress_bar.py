"""The CLI's progress bar on long work (issue 16 item 2): applying a large change set
draws a bar on a terminal, and nothing of it reaches a pipe or a log."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from harness import agentfense_bin

MAKE_FILES = "for i in $(seq 150); do echo $i > out/f$i.txt; done"


def run_apply(repo: Path, stderr_fd: int) -> int:
    process = subprocess.Popen(
        [agentfense_bin(), "run", "--rule", "**=write", "--changes", "apply", str(repo),
         "--", "sh", "-c", MAKE_FILES],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr_fd)
    return process.wait(timeout=120)


def read_all(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the terminal's other side closed
            return data
        if not chunk:
            return data
        data += chunk


def test_apply_draws_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "out").mkdir(parents=True)
    controller, terminal = pty.openpty()
    try:
        assert run_apply(repo, terminal) == 0
    finally:
        os.close(terminal)
    shown = read_all(controller).decode()
    os.close(controller)
    assert "\ragentfense: applying [" in shown
    assert "[" + "#" * 30 + "] 150/150" in shown
    assert "applied 150 change(s)" in shown
    assert len(list((repo / "out").iterdir())) == 150


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "out").mkdir(parents=True)
    log = tmp_path / "stderr.log"
    with open(log, "wb") as out:
        assert run_apply(repo, out.fileno()) == 0
    shown = log.read_text()
    assert "applied 150 change(s)" in shown
    assert "applying [" not in shown and "\r" not in shown
