"""Each running server sandbox has a host uid/gid of its own, leased from
`sandbox.uid_range` while it runs and returned when it stops (issue 9 item 3)."""

import concurrent.futures
import sys
import uuid
from pathlib import Path

from conftest import make_sandbox, run
from server_harness import sb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probes"))
from host_ids import FIRST_ID, LAST_ID, lease_is_free, wait_for_processes  # noqa: E402


def test_sandboxes_run_as_distinct_host_ids_returned_on_stop(server, codebase):
    sandboxes = [make_sandbox(server, codebase) for _ in range(2)]
    tags = [f"AF_ID_TAG_{uuid.uuid4().hex}" for _ in sandboxes]
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            execs = [pool.submit(run, server, s, "sleep 3", env={t: "1"})
                     for s, t in zip(sandboxes, tags)]
            uids = [set(wait_for_processes(t).values()) for t in tags]
            assert all(e.result().exit_code == 0 for e in execs)
        assert len(uids[0]) == 1 and len(uids[1]) == 1 and uids[0] != uids[1], uids
        for uid in uids[0] | uids[1]:
            assert FIRST_ID <= uid <= LAST_ID
            assert not lease_is_free(uid), "a running sandbox must hold its id"
    finally:
        for s in sandboxes:
            server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=s))
    for uid in uids[0] | uids[1]:
        assert lease_is_free(uid), "a stopped sandbox must return its id"
    for s in sandboxes:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=s))
