"""Each running server sandbox has a host uid/gid of its own, leased from
`sandbox.uid_range` while it runs and returned when it stops (issue 9 item 3)."""

import concurrent.futures
import fcntl
import os
import time
import uuid
from pathlib import Path

from conftest import make_sandbox, run
from server_harness import sb

ID_DIR = Path("/run/agentfense/ids")


def host_uids_of(tag: str, timeout: float = 20) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        uids = set()
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                if tag.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                    status = Path(f"/proc/{entry}/status").read_text()
                    uids.add(int(status.split("Uid:")[1].split()[0]))
            except OSError:
                continue
        if uids:
            return uids
        time.sleep(0.05)
    raise AssertionError(f"no process tagged {tag}")


def lease_is_free(uid: int) -> bool:
    with open(ID_DIR / str(uid), "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def test_sandboxes_run_as_distinct_host_ids_returned_on_stop(server, codebase):
    sandboxes = [make_sandbox(server, codebase) for _ in range(2)]
    tags = [f"AF_ID_TAG_{uuid.uuid4().hex}" for _ in sandboxes]
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            execs = [pool.submit(run, server, s, "sleep 3", env={t: "1"})
                     for s, t in zip(sandboxes, tags)]
            uids = [host_uids_of(t) for t in tags]
            assert all(e.result().exit_code == 0 for e in execs)
        assert len(uids[0]) == 1 and len(uids[1]) == 1 and uids[0] != uids[1], uids
        for uid in uids[0] | uids[1]:
            assert 1879048192 <= uid <= 1879113727
            assert not lease_is_free(uid), "a running sandbox must hold its id"
    finally:
        for s in sandboxes:
            server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=s))
    for uid in uids[0] | uids[1]:
        assert lease_is_free(uid), "a stopped sandbox must return its id"
    for s in sandboxes:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=s))
