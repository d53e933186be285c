"""The server process's resident memory, for tests that bound what it holds."""

from __future__ import annotations

import threading
import time

MIB = 1 << 20
# glibc keeps freed blocks past a threshold it raises as large blocks come and go, so the
# resident size shows the most the server ever held. A server started with this in its
# environment returns each large block when freed: its resident size is what it holds.
RETURN_LARGE_BLOCKS = {"MALLOC_MMAP_THRESHOLD_": str(128 << 10)}


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))


class PeakRss:
    """The server's highest resident size while in use (VmHWM is since start)."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.done = pid, rss_bytes(pid), threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self):
        while not self.done.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
