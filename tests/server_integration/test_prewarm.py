"""Issue 14 item 3: a started sandbox's kernel caches are warmed in the background
(`sandbox.prewarm`, on by default), so that a first command arriving a moment after start
finds them warm; the warm-up is not in the sandbox's audit trail; off when configured.

Warm is read from the fs process's request counters (its control socket's `stats`,
<data_dir>/run/<sandbox>/control.sock): once the walk is done, a first `find` and `cat`
of every file send the daemon no READDIR and no READ.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from conftest import make_codebase, make_sandbox, run
from server_harness import Server, sb, serving

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probes"))
from control_socket import control_request  # noqa: E402


def stats(server: Server, sandbox_id: str) -> dict:
    return control_request(Path(server.data_dir) / "run" / sandbox_id / "control.sock", "stats")


def walked(server: Server, sandbox_id: str) -> dict:
    deadline = time.monotonic() + 60
    while (now := stats(server, sandbox_id))["prewarm"] == "walking":
        assert time.monotonic() < deadline, now
        time.sleep(0.05)
    return now


@pytest.fixture(scope="module", params=["on", "off"])
def server(request):
    config = "sandbox:\n  prewarm: false\n" if request.param == "off" else ""
    for srv in serving("af-prewarm-", config=config):
        srv.prewarm = request.param
        yield srv


def test_the_first_command_finds_the_caches_warm(server):
    codebase = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase)
    before = walked(server, sandbox_id)
    first = run(server, sandbox_id, "find . | wc -l; cat $(find . -type f) | wc -c")
    assert first.exit_code == 0, first
    after = stats(server, sandbox_id)
    grew = {k: after["requests"][k] - before["requests"][k] for k in ("readdir", "reads")}
    if server.prewarm == "on":
        assert before["prewarm"] == "done"
        assert grew == {"readdir": 0, "reads": 0}, (before, after)
        # The walk is not the agent: the trail holds the command's own reads only.
        trail = [json.loads(e.line) for e in server.sandboxes.GetAuditEvents(
            sb.GetAuditEventsRequest(sandbox_id=sandbox_id), timeout=30)]
        command_ids = {e["cmd"] for e in trail if e["op"] == "exec"}
        reads = [e for e in trail if e["op"] == "open_read"]
        assert reads and all(e.get("cmd") in command_ids for e in reads), reads
    else:
        assert before["prewarm"] == "off"
        assert grew["readdir"] > 0, (before, after)
