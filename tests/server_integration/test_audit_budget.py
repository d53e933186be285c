"""An agent cannot fill the server's disk through its audit trail. Creating and deleting
files with long names 30 levels deep wrote 37 MB/s into the trail, outside every quota
(its write layer stayed empty). Past audit.max_sandbox_bytes the fs process counts file
events instead of writing them, and says so in the trail."""

from __future__ import annotations

import json
import os

import pytest

from conftest import make_codebase, make_sandbox, run
from server_harness import sb, serving

LIMIT = 1 << 20

CHURN = ("d=output; for i in $(seq 1 20); do d=$d/$(printf 'd%.0s' $(seq 1 200)); done; "
         "mkdir -p $d && cd $d && n=$(printf 'n%.0s' $(seq 1 240)) && "
         "for j in $(seq 1 300); do "
         "for i in 1 2 3 4 5 6 7 8 9; do : > $n$j$i; rm $n$j$i; done; done")


@pytest.fixture(scope="module")
def small_trails():
    yield from serving("af-audit-budget-", config=f"audit:\n  max_sandbox_bytes: {LIMIT}\n")


def test_file_events_past_the_trail_limit_are_counted_not_written(small_trails):
    server = small_trails
    sandbox_id = make_sandbox(server, make_codebase(server))
    try:
        r = run(server, sandbox_id, CHURN)
        assert r.exit_code == 0, r.stderr
        trail = os.path.join(server.data_dir, "audit", f"{sandbox_id}.jsonl")
        # One pass of events may cross the limit before the next one stops.
        assert os.path.getsize(trail) < LIMIT + (8 << 20), os.path.getsize(trail)
        with open(trail) as f:
            events = [json.loads(line) for line in f]
        dropped = [e for e in events if e["op"] == "events_dropped"]
        assert dropped and "audit.max_sandbox_bytes" in dropped[-1]["why"], dropped[-1:]
        assert sum(e["count"] for e in dropped) > 1000
        # Security events are still written after it.
        run(server, sandbox_id, "true")
        with open(trail) as f:
            last = [json.loads(line) for line in f][-1]
        assert last["kind"] == "security" and last["op"] == "exec", last
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_denied_events_past_the_limit_are_still_written_within_a_reserve(small_trails):
    """An agent that filled the budget with its own events then probed hidden paths left
    only a count: which secrets it looked for was gone."""
    server = small_trails
    sandbox_id = make_sandbox(server, make_codebase(server))
    try:
        assert run(server, sandbox_id, CHURN).exit_code == 0
        trail = os.path.join(server.data_dir, "audit", f"{sandbox_id}.jsonl")
        assert os.path.getsize(trail) > LIMIT
        run(server, sandbox_id, "cat .env; cat README.md; mv output/report.txt README.md; true")
        with open(trail) as f:
            events = [json.loads(line) for line in f]
        second = [e for e in events if e["kind"] == "security" and e["op"] == "exec"][1]["cmd"]
        probe = [e for e in events if e.get("cmd") == second and e["kind"] == "file"]
        assert {(e["op"], e["path"], e["outcome"]) for e in probe} == {
            ("lookup", "/.env", "denied"), ("rename", "/output/report.txt", "denied")}, probe
        # Its allowed events (the read of README.md) are counted, none of them as denied.
        dropped = [e for e in events if e["op"] == "events_dropped"]
        assert dropped[-1]["count"] > 0 and "denied_dropped" not in dropped[-1], dropped[-1]
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
