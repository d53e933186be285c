"""Two fs processes must never serve one write layer (two writers on one journal): the
fs locks its state directory for its whole life, and a second `agentfense mount` of the
same --state-dir refuses to start with an error naming the directory and the holder,
while the first keeps serving. Once the first is gone the directory is free again."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness import agentfense_bin, mounts_mentioning, wait_for


def start_mount(repo: Path, state: Path, mountpoint: Path) -> subprocess.Popen:
    mountpoint.mkdir()
    return subprocess.Popen(
        [agentfense_bin(), "mount", "--preset", "full-access", "--state-dir", str(state),
         str(repo), str(mountpoint)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen, mountpoint: Path) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    subprocess.run(["umount", "-l", str(mountpoint)], stderr=subprocess.DEVNULL)


def test_a_second_fs_on_the_same_state_directory_refuses_to_start(repo, tmp_path):
    state = tmp_path / "state"
    first = start_mount(repo, state, tmp_path / "mnt1")
    second = None
    try:
        assert wait_for(lambda: mounts_mentioning([str(tmp_path / "mnt1")]), 20), \
            first.stderr.read().decode() if first.poll() is not None else "never mounted"
        (tmp_path / "mnt1" / "output" / "new.txt").write_text("first\n")

        second = start_mount(repo, state, tmp_path / "mnt2")
        try:
            _, err = second.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("a second fs process serves the same state directory")
        message = err.decode()
        assert second.returncode != 0, message
        assert f"state directory {state} is in use by another fs process" in message, message
        assert f"(pid {first.pid})" in message, message
        assert not mounts_mentioning([str(tmp_path / "mnt2")])

        # The first one was not disturbed.
        assert first.poll() is None
        assert (tmp_path / "mnt1" / "output" / "new.txt").read_text() == "first\n"
    finally:
        stop(first, tmp_path / "mnt1")
        if second is not None:
            stop(second, tmp_path / "mnt2")

    # Free again once the first has gone: the next fs serves the same layer.
    third = start_mount(repo, state, tmp_path / "mnt3")
    try:
        assert wait_for(lambda: mounts_mentioning([str(tmp_path / "mnt3")]), 20), \
            third.stderr.read().decode() if third.poll() is not None else "never mounted"
        assert (tmp_path / "mnt3" / "output" / "new.txt").read_text() == "first\n"
    finally:
        stop(third, tmp_path / "mnt3")
    assert not os.path.ismount(tmp_path / "mnt3")
