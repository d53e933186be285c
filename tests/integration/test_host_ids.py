"""Each running sandbox has a host uid/gid of its own (issue 9 item 3), so that a process
that got out of one sandbox's namespaces still cannot signal, ptrace or read another's.
Ids are leased from a range and return when the sandbox ends, also after kill -9."""

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probes"))
from host_ids import (FIRST_ID, LAST_ID, lease_holders, lease_is_free,  # noqa: E402
                      processes_tagged, wait_for_processes)

def can_signal_as(uid: int, pid: int) -> bool:
    """Whether a process with host uid `uid` (an escaped sandbox process) may signal `pid`."""
    probe = subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
         "kill", "-0", str(pid)], capture_output=True, text=True)
    return probe.returncode == 0


def test_concurrent_runs_get_distinct_host_ids_and_cannot_reach_each_other(runner, repo):
    tags = [f"AF_ID_TAG_{uuid.uuid4().hex}" for _ in range(2)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(runner.run, repo, ["sleep", "4"], ["--env", f"{tag}=1"])
                for tag in tags]
        procs = [wait_for_processes(tag) for tag in tags]
        uids = [set(p.values()) for p in procs]
        assert len(uids[0]) == 1 and len(uids[1]) == 1, uids
        a, b = uids[0].pop(), uids[1].pop()
        assert a != b
        for uid in (a, b):
            assert FIRST_ID <= uid <= LAST_ID, uid
            assert not lease_is_free(uid)
        holders_while_running = [lease_holders(a), lease_holders(b)]
        victim = next(iter(procs[1]))
        assert can_signal_as(b, victim), "the probe itself must work"
        assert not can_signal_as(a, victim), "sandbox A's uid could signal sandbox B"
        results = [run.result() for run in runs]
        for result in results:
            assert result.returncode == 0, result.describe()
    # Each run held its own id's lock, and neither holds it any more. Not "the ids are
    # free": the server suite runs beside this one and may lease them again at once.
    for result, uid, holders in zip(results, (a, b), holders_while_running):
        assert result.pid in holders, "the probe must see the run's own lock"
        assert result.pid not in lease_holders(uid), lease_holders(uid)


def test_ids_return_when_the_run_is_killed(runner, repo, agentfense):
    tag = f"AF_ID_TAG_{uuid.uuid4().hex}"
    proc = subprocess.Popen([agentfense, "run", "--env", f"{tag}=1", str(repo), "--",
                             "sleep", "60"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        uid = next(iter(wait_for_processes(tag).values()))
        assert not lease_is_free(uid)
        assert proc.pid in lease_holders(uid), "the probe must see the run's own lock"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while processes_tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    # The killed run no longer holds the id. Not "the id is free": the server suite runs
    # beside this one and may lease the lowest free id again at once (seen in CI).
    assert proc.pid not in lease_holders(uid), lease_holders(uid)
