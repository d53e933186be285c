"""Stopping an fs process while an agent reads through it. The io_uring request threads
still serve while the session stops, and a READ that misses the page cache pushes the
files listed after it (src/fs/prefetch.h): the prefetcher was destroyed under such a
READ, and `agentfense mount` died of SIGSEGV in 3 of 6 SIGTERMs under a `grep -r`
(fuse_lowlevel_notify_store from Prefetcher::file_read). The rings' last errors, the
device closed under them, were logged as failures too."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness import agentfense_bin, mounts_mentioning, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probes"))
from control_socket import control_request  # noqa: E402


def make_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for d in range(30):
        (tree / f"d{d}").mkdir(parents=True)
        for f in range(100):
            (tree / f"d{d}" / f"f{f}").write_text("x" * 1000 + "\n")
    return tree


def stop_mid_read(tmp_path: Path, rounds: int, control: bool) -> None:
    """`rounds` mounts, each stopped by SIGTERM while grep -r reads through it and (with
    `control`) while refresh requests keep arriving on its control socket."""
    tree = make_tree(tmp_path)
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    sock = tmp_path / "control.sock"
    for round_ in range(rounds):
        extra = ["--control-socket", str(sock)] if control else []
        fs = subprocess.Popen([agentfense_bin(), "mount", "--preset", "agent-safe", *extra,
                               str(tree), str(mountpoint)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reader = None
        done = threading.Event()
        refresher = threading.Thread(target=refresh_until, args=(sock, done), daemon=True)
        try:
            assert wait_for(lambda: mounts_mentioning([str(mountpoint)]), 20), "never mounted"
            reader = subprocess.Popen(["grep", "-r", "x", str(mountpoint)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if control:
                refresher.start()
            time.sleep(0.02 + 0.01 * round_)  # somewhere in the first pass over the files
            fs.send_signal(signal.SIGTERM)
            _, err = fs.communicate(timeout=30)
            assert fs.returncode == 0, (round_, fs.returncode, err.decode()[-2000:])
            assert err.decode() == "", (round_, err.decode()[-2000:])
        finally:
            done.set()
            if refresher.is_alive():
                refresher.join()
            if reader is not None:
                reader.kill()
                reader.wait()
            if fs.poll() is None:
                fs.kill()
                fs.wait()
            subprocess.run(["umount", "-l", str(mountpoint)], stderr=subprocess.DEVNULL)


def refresh_until(sock: Path, done: threading.Event) -> None:
    while not done.is_set():
        try:
            control_request(sock, "refresh")
        except (OSError, ValueError):  # the server is gone: the stop is under way
            time.sleep(0.001)


def test_a_mount_stopped_mid_read_exits_cleanly(tmp_path: Path):
    stop_mid_read(tmp_path, rounds=8, control=False)


def test_a_mount_stopped_mid_read_and_mid_refresh_exits_cleanly(tmp_path: Path):
    """A control request still running while the session came down sent its kernel
    notifications through a transport being stopped: the control server now stops once
    the loop ends, before the unmount (src/fs/mount.cc)."""
    stop_mid_read(tmp_path, rounds=8, control=True)
