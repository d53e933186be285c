"""A server lists, commits and removes a sandbox's deep tree under the soft open-file
limit most hosts give (1,024), as `agentfense run` does (tests/integration/
test_deep_trees.py, where the CLI's review needed a raised limit). A stopped sandbox's
changes are listed and committed by the server process itself; destroying the sandbox
and deleting the codebase remove the 1,500-level tree there too. The fs caps how deep a
tree can be (tests/fs/path_length_test.cc)."""

from __future__ import annotations

import os
import subprocess

import grpc

from conftest import download, make_codebase, make_sandbox, run
from server_harness import Server, agentfense_bin, cb, cb_grpc, common, sb, sb_grpc

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


def test_reports_of_an_agents_many_deep_paths_are_bounded(server):
    # 2,000 levels and 2,500 files at the bottom: 14 MB of paths. A report lists the
    # first 4 MiB of each list and counts the rest, a recursive file listing stops there
    # and says so (layer/listed_paths.h); before, a
    # million such names (the inode quota) would have made gigabyte replies through the
    # fs process, the server and the client. The commit still applies everything, and
    # another sandbox of the codebase sees all of it.
    depth, files_count = 2000, 2500
    codebase = make_codebase(server)
    writer = make_sandbox(server, codebase, sync_mode=common.SYNC_MODE_MANUAL)
    reader = make_sandbox(server, codebase)
    bottom = "output" + "/d" * depth
    r = run(server, writer,
            "python3 -c '\nimport os\nos.chdir(\"/workspace/output\")\n"
            f"for _ in range({depth}):\n    os.mkdir(\"d\")\n    os.chdir(\"d\")\n"
            f"for i in range({files_count}):\n    open(\"f%04d\" % i, \"w\").write(str(i))\n'")
    assert r.exit_code == 0, r.stderr
    assert run(server, reader, "ls output").stdout == "report.txt\n"  # the commit refreshes it
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}",
                                    options=[("grpc.max_receive_message_length", 64 << 20)])
    sandboxes = sb_grpc.SandboxServiceStub(channel)
    try:
        for where in ("live", "offline"):
            listed = sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=writer))
            assert listed.omitted > 0, where
            assert len(listed.changes) + listed.omitted == depth + files_count, where
            assert sum(len(c.path) for c in listed.changes) <= 4 << 20, where
            assert listed.changes[0].path == "/output/d", where
            if where == "live":
                # A recursive listing of the files stops at 4 MiB of paths too.
                files = sandboxes.ListSandboxFiles(sb.ListSandboxFilesRequest(
                    sandbox_id=writer, path="/output", recursive=True))
                assert files.truncated and 0 < len(files.files) < depth + files_count
                assert sum(len(f.path) for f in files.files) <= 4 << 20
                server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=writer))
        commit = sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=writer))
        assert commit.applied_omitted > 0 and not commit.denied and not commit.conflicts
        assert len(commit.applied) + commit.applied_omitted == depth + files_count
        codebases = cb_grpc.CodebaseServiceStub(channel)
        listed = codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase, path="/output",
                                                         recursive=True))
        assert listed.truncated and sum(len(f.path) for f in listed.files) <= 4 << 20
        top = codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase))
        assert not top.truncated and len(top.files) > 0
    finally:
        channel.close()
    assert download(server, codebase, bottom + "/f2499") == b"2499"
    seen = run(server, reader, f"cat {bottom}/f2499 && ls {bottom} | wc -l")
    assert (seen.exit_code, seen.stdout) == (0, f"2499{files_count}\n"), seen.stderr
    for sandbox_id in (writer, reader):
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    # The server removes the deep tree in the background (what it has not when it stops,
    # the fixture's remove_tree does).
    server.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=codebase))


WIDE = ("python3 -c '\nimport os, sys\nos.chdir(\"/workspace/output\")\n"
        "for level in range(30):\n    name = chr(97 + level % 26) * 250\n"
        "    if sys.argv[1] == \"make\": os.mkdir(name)\n    os.chdir(name)\n"
        "if sys.argv[1] == \"make\":\n"
        "    for i in range(700): open(\"f%03d\" % i, \"w\").write(str(i))\n"
        "else:\n    print(len(os.listdir(\".\")), open(\"f699\").read())\n"
        "    open(\"f699\", \"a\").write(\"!\")\n' ")


def test_a_live_commit_whose_report_leaves_paths_out_keeps_the_sandboxs_view(server):
    # 700 files 7.5 KB deep: 5.3 MB of paths, so the report of a commit made through the
    # running sandbox's fs process leaves applied paths out. The fs process then treats
    # everything as changed (fs/control_ops.cc): the sandbox goes on seeing its files,
    # now from the codebase, and its next edit is a change of its own again.
    codebase = make_codebase(server)
    writer = make_sandbox(server, codebase, sync_mode=common.SYNC_MODE_MANUAL)
    assert run(server, writer, WIDE + "make").exit_code == 0
    commit = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=writer))
    assert commit.applied_omitted > 0 and not commit.denied and not commit.conflicts
    assert len(commit.applied) + commit.applied_omitted == 30 + 700
    seen = run(server, writer, WIDE + "check")
    assert (seen.exit_code, seen.stdout) == (0, "700 699\n"), seen.stderr
    changes = server.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=writer))
    assert [(c.path.endswith("/f699"), c.kind) for c in changes.changes] == [
        (True, sb.CHANGE_KIND_MODIFIED)]
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=writer))
    server.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=codebase))
