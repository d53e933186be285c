"""Host-side probes of per-sandbox host ids, shared by the CLI and server suites: which
host uid a tagged sandbox process runs as, and whether an id's lease is held."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

ID_DIR = Path("/run/agentfense/ids")
FIRST_ID, LAST_ID = 1879048192, 1879113727  # the default sandbox.uid_range


def processes_tagged(tag: str) -> dict[int, int]:
    """pid -> host uid of every process whose environment holds `tag`."""
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if tag.encode() not in Path(f"/proc/{entry}/environ").read_bytes():
                continue
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:  # gone while we looked
            continue
        found[int(entry)] = int(status.split("Uid:")[1].split()[0])
    return found


def wait_for_processes(tag: str, timeout: float = 30) -> dict[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs = processes_tagged(tag)
        if procs:
            return procs
        time.sleep(0.05)
    raise AssertionError(f"no sandbox process with {tag} appeared")


def lease_holders(uid: int) -> set[int]:
    """Pids /proc/locks names for the flock on `uid`'s lease file: the process that took
    it, even when the lock lives on in an fd another process inherited."""
    inode = os.stat(ID_DIR / str(uid)).st_ino
    holders = set()
    with open("/proc/locks") as locks:
        for line in locks:
            fields = line.split()  # "1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END"
            if len(fields) >= 6 and fields[1] == "FLOCK" and \
                    int(fields[5].split(":")[2]) == inode:
                holders.add(int(fields[4]))
    return holders


def lease_is_free(uid: int) -> bool:
    with open(ID_DIR / str(uid), "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True
