"""Stopping an fs process while an agent reads through it. The io_uring request threads
still serve while the session stops, and a READ that misses the page cache pushes the
files listed after it (src/fs/prefetch.h): the prefetcher was destroyed under such a
READ, and `agentfense mount` died of SIGSEGV in 3 of 6 SIGTERMs under a `grep -r`
(fuse_lowlevel_notify_store from Prefetcher::file_read). The rings' last errors, the
device closed under them, were logged as failures too."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from harness import agentfense_bin, mounts_mentioning, wait_for


def test_a_mount_stopped_mid_read_exits_cleanly(tmp_path: Path):
    tree = tmp_path / "tree"
    for d in range(30):
        (tree / f"d{d}").mkdir(parents=True)
        for f in range(100):
            (tree / f"d{d}" / f"f{f}").write_text("x" * 1000 + "\n")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    for round_ in range(8):
        fs = subprocess.Popen([agentfense_bin(), "mount", "--preset", "agent-safe", str(tree),
                               str(mountpoint)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reader = None
        try:
            assert wait_for(lambda: mounts_mentioning([str(mountpoint)]), 20), "never mounted"
            reader = subprocess.Popen(["grep", "-r", "x", str(mountpoint)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.02 + 0.01 * round_)  # somewhere in the first pass over the files
            fs.send_signal(signal.SIGTERM)
            _, err = fs.communicate(timeout=30)
            assert fs.returncode == 0, (round_, fs.returncode, err.decode()[-2000:])
            assert err.decode() == "", (round_, err.decode()[-2000:])
        finally:
            if reader is not None:
                reader.kill()
                reader.wait()
            if fs.poll() is None:
                fs.kill()
                fs.wait()
            subprocess.run(["umount", "-l", str(mountpoint)], stderr=subprocess.DEVNULL)
