"""A server lists, commits and removes a sandbox's deep tree under the soft open-file
limit most hosts give (1,024), as `agentfense run` does (tests/integration/
test_deep_trees.py, where the CLI's review needed a raised limit). A stopped sandbox's
changes are listed and committed by the server process itself; destroying the sandbox
and deleting the codebase remove the 1,500-level tree there too. The fs caps how deep a
tree can be (tests/fs/path_length_test.cc)."""

from __future__ import annotations

import os
import subprocess

from conftest import download, make_codebase, make_sandbox, run
from server_harness import Server, agentfense_bin, cb, common, sb

SOFT_LIMIT = 1024
DEPTH = 1500

NEST = (
    "python3 -c '\nimport os\nos.chdir(\"/workspace/output\")\n"
    f"for _ in range({DEPTH}):\n    os.mkdir(\"d\")\n    os.chdir(\"d\")\n"
    "open(\"f\", \"w\").write(\"bottom\\n\")\n'"
)


def test_a_server_started_with_a_small_soft_limit_commits_a_deep_tree(tmp_path):
    hard = max(os.sysconf("SC_OPEN_MAX"), 8 * SOFT_LIMIT)
    wrapper = tmp_path / "agentfense"
    wrapper.write_text("#!/bin/sh\n"
                       f"exec prlimit --nofile={SOFT_LIMIT}:{hard} -- "
                       f"{os.path.realpath(agentfense_bin())} \"$@\"\n")
    wrapper.chmod(0o755)
    data = tmp_path / "data"
    data.mkdir()
    srv = Server(str(data), program=str(wrapper)).start()
    try:
        codebase = make_codebase(srv)
        sandbox_id = make_sandbox(srv, codebase, sync_mode=common.SYNC_MODE_MANUAL)
        r = run(srv, sandbox_id, NEST)
        assert r.exit_code == 0, r.stderr
        srv.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
        changes = srv.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox_id))
        assert len(changes.changes) == DEPTH + 1
        commit = srv.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))
        assert len(commit.applied) == DEPTH + 1
        assert download(srv, codebase, "output" + "/d" * DEPTH + "/f") == b"bottom\n"
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
        srv.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=codebase))
        assert "Too many open files" not in srv.read_log()
    finally:
        assert srv.stop() == 0, srv.read_log()
        # pytest's removal of tmp_path recurses once per level and would give up.
        subprocess.run(["rm", "-rf", str(data)], check=True)
