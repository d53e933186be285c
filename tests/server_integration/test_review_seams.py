"""The write layer's API (ListChanges, DiffChanges, CommitChanges) is a way out of the
sandbox too: nothing the sandbox cannot see may appear in it or be deleted by it, live
(through the fs process) or offline (the server reading a stopped sandbox's layer), and
a commit carries only plain content (issue 9 items 1 and 10)."""

import uuid

import pytest

from conftest import download, make_codebase, make_sandbox, run
from server_harness import common, sb

SECRET = f"SECRETCFG{uuid.uuid4().hex}"


@pytest.fixture
def cfg_codebase(server) -> str:
    return make_codebase(server, {
        "README.md": b"# Sample\n",
        "output/cfg/.env": f"API_KEY={SECRET}\n".encode(),
        "output/cfg/app.yaml": b"port: 80\n",
    })


@pytest.fixture
def manual_sandbox(server, cfg_codebase):
    sandbox_id = make_sandbox(server, cfg_codebase, sync_mode=common.SYNC_MODE_MANUAL)
    yield sandbox_id
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def review_text(server, sandbox_id: str) -> str:
    changes = server.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox_id))
    diff = server.sandboxes.DiffChanges(sb.DiffChangesRequest(sandbox_id=sandbox_id))
    return str(changes) + diff.diff


@pytest.mark.parametrize("script", [
    "rm -rf output/cfg && mkdir output/cfg",
    "rm output/cfg/app.yaml && mkdir output/n && echo x > output/n/f && mv -T output/n output/cfg",
])
def test_review_never_shows_hidden_files_live_or_offline(server, cfg_codebase, manual_sandbox,
                                                          script):
    r = run(server, manual_sandbox, script)
    assert r.exit_code == 0, r.stderr
    live = review_text(server, manual_sandbox)
    assert "app.yaml" in live, live  # the visible deletion is reviewed
    assert SECRET not in live and ".env" not in live, live
    server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=manual_sandbox))
    offline = review_text(server, manual_sandbox)
    assert SECRET not in offline and ".env" not in offline, offline
    result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=manual_sandbox))
    assert SECRET not in str(result) and ".env" not in str(result), result
    assert download(server, cfg_codebase, "output/cfg/.env") == f"API_KEY={SECRET}\n".encode()


def test_live_commit_keeps_hidden_files(server, cfg_codebase, manual_sandbox):
    run(server, manual_sandbox, "rm -rf output/cfg && mkdir output/cfg && echo y > output/cfg/new")
    result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=manual_sandbox))
    assert sorted(result.applied) == ["/output/cfg/app.yaml", "/output/cfg/new"], result
    assert ".env" not in str(result)
    assert download(server, cfg_codebase, "output/cfg/.env") == f"API_KEY={SECRET}\n".encode()
    assert download(server, cfg_codebase, "output/cfg/new") == b"y\n"
    assert list(server.sandboxes.ListChanges(
        sb.ListChangesRequest(sandbox_id=manual_sandbox)).changes) == []


def test_sync_after_command_keeps_hidden_files(server, cfg_codebase):
    sandbox_id = make_sandbox(server, cfg_codebase)
    try:
        r = run(server, sandbox_id, "rm -rf output/cfg && mkdir output/cfg && ls -a output/cfg")
        assert r.exit_code == 0 and ".env" not in r.stdout, r
        assert download(server, cfg_codebase, "output/cfg/.env") == f"API_KEY={SECRET}\n".encode()
        # The sandbox's own view stays as the agent left it, whatever the base kept.
        assert run(server, sandbox_id, "ls -A output/cfg").stdout == ""
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_commit_reports_adjusted_modes_and_refuses_links_out(server, cfg_codebase, manual_sandbox):
    run(server, manual_sandbox, "cd output && echo x > open.sh && chmod 777 open.sh && "
                                "ln -s /etc/shadow s && mkfifo p")
    result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=manual_sandbox))
    assert "/output/open.sh" in result.applied, result
    assert result.notes["/output/open.sh"] == "committed with mode 0755 instead of 0777"
    assert sorted(result.denied) == ["/output/p", "/output/s"], result
    assert result.reasons["/output/s"] == "symlink target is absolute (/etc/shadow)"
    assert result.reasons["/output/p"] == "FIFOs are not committed"


def test_names_that_are_not_utf8_are_reviewed_and_selected_losslessly(server, cfg_codebase,
                                                                        manual_sandbox):
    # proto3 strings must be UTF-8: such a name is listed git-quoted, and the quoted form
    # selects it again. Before, the raw bytes made the whole ListChanges reply unparseable.
    r = run(server, manual_sandbox, "printf 'bad\\n' > \"output/$(printf 'caf\\377')\" && "
                                    "echo ok > output/fine.txt")
    assert r.exit_code == 0, r.stderr
    for _ in range(2):  # live, then offline
        listed = {c.path for c in server.sandboxes.ListChanges(
            sb.ListChangesRequest(sandbox_id=manual_sandbox)).changes}
        assert listed == {'"/output/caf\\377"', "/output/fine.txt"}, listed
        diff = server.sandboxes.DiffChanges(sb.DiffChangesRequest(
            sandbox_id=manual_sandbox, paths=['"/output/caf\\377"'])).diff
        assert '+++ "b/output/caf\\377"' in diff and "+bad" in diff and "fine" not in diff, diff
        server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=manual_sandbox))
    server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=manual_sandbox))
    result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(
        sandbox_id=manual_sandbox, paths=['"/output/caf\\377"']))
    assert list(result.applied) == ['"/output/caf\\377"'], result
    left = server.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=manual_sandbox)).changes
    assert [c.path for c in left] == ["/output/fine.txt"]
    other = make_sandbox(server, cfg_codebase)
    try:
        assert run(server, other, "cat \"output/$(printf 'caf\\377')\"").stdout == "bad\n"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=other))


def test_files_grown_by_thousands_of_lines_are_diffed_live_and_offline(server, cfg_codebase,
                                                                      manual_sandbox):
    # New 10,000-line files and a 1-line file grown to 5,000: the line diff's edit search
    # read outside its array for lengths that differ by more than its budget, which
    # crashed the fs process (live) and could crash the server (offline).
    r = run(server, manual_sandbox,
            "for i in 1 2 3; do seq -f \"%099g\" 10000 > output/big$i.txt; done && "
            "seq -f 'port: %g' 5000 > output/cfg/app.yaml")
    assert r.exit_code == 0, r.stderr
    last = "%099d\n" % 10000
    for where in ("live", "offline"):
        diff = server.sandboxes.DiffChanges(sb.DiffChangesRequest(sandbox_id=manual_sandbox)).diff
        assert diff.count("@@ -0,0 +1,10000 @@\n") == 3, (where, diff[:300])
        assert diff.count("+" + last) == 3 and "+port: 5000\n" in diff, where
        assert "-port: 80\n" in diff, where
        if where == "live":
            # The fs process still serves the sandbox.
            r = run(server, manual_sandbox, "wc -l < output/big3.txt")
            assert (r.exit_code, r.stdout) == (0, "10000\n"), r.stderr
            server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=manual_sandbox))


@pytest.mark.parametrize("script", [
    "rm -r src && mkdir src && echo main > src/main.py && echo hi > src/util",
    "rm -r src/util && echo hi > t && mv -T t src/util",
])
def test_a_directory_replaced_by_a_file_is_reviewed_with_what_it_held(server, script):
    # Committing /src/util removes the base directory and all it held: the review of that
    # path, and the commit of it by path, must name each entry it removes (the recreated
    # parent's marker, or the rename, left no whiteout saying so).
    codebase = make_codebase(server, {"src/main.py": b"main\n", "src/util/important.py": b"keep\n",
                                      "src/util/deep/leaf.py": b"leaf\n"})
    write_all = [common.PermissionRule(pattern="**", permission=common.PERMISSION_WRITE)]
    sandbox_id = make_sandbox(server, codebase, rules=write_all,
                              sync_mode=common.SYNC_MODE_MANUAL)
    try:
        r = run(server, sandbox_id, script)
        assert r.exit_code == 0, r.stderr
        listed = server.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox_id))
        assert sorted((c.path, c.kind) for c in listed.changes) == [
            ("/src/util", sb.CHANGE_KIND_MODIFIED),
            ("/src/util/deep", sb.CHANGE_KIND_DELETED),
            ("/src/util/important.py", sb.CHANGE_KIND_DELETED)], listed
        diff = server.sandboxes.DiffChanges(
            sb.DiffChangesRequest(sandbox_id=sandbox_id, paths=["/src/util"]))
        assert "src/util/important.py" in diff.diff and "src/util/deep" in diff.diff, diff.diff
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(
            sandbox_id=sandbox_id, paths=["/src/util"], review_token=diff.review_token))
        assert sorted(result.applied) == ["/src/util", "/src/util/deep",
                                          "/src/util/important.py"], result
        assert download(server, codebase, "src/util") == b"hi\n"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
