"""Two sandboxes over one codebase: a commit never deletes or overwrites what the other
committed after this sandbox saw the base. Modified files always carried the base
version they were copied from; deletions did not, so a commit deleted another
sandbox's newer file, its new files inside a removed directory, and a renamed file's
new content (the rename's destination was refused as a conflict while its source went,
losing the content entirely). Found by an attack sweep of the review token."""

from __future__ import annotations

import contextlib
import os

from conftest import download, make_codebase, make_sandbox, run
from server_harness import cb, common, sb

WRITE_ALL = [common.PermissionRule(pattern="**", permission=common.PERMISSION_WRITE)]


@contextlib.contextmanager
def reviewed_and_eager(server, codebase_id: str):
    """Two sandboxes over one codebase: a, whose changes wait for CommitChanges, and b,
    which commits after each command (another writer); both destroyed at the end."""
    a = make_sandbox(server, codebase_id, rules=WRITE_ALL, sync_mode=common.SYNC_MODE_MANUAL)
    b = make_sandbox(server, codebase_id, rules=WRITE_ALL)
    try:
        yield a, b
    finally:
        for s in (a, b):
            server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=s))


def test_a_deletion_does_not_take_another_sandboxs_newer_work(server):
    codebase_id = make_codebase(server, files={
        "d/old.txt": b"old\n", "d/sub/deep.txt": b"deep\n", "f.txt": b"f0\n", "r.txt": b"r0\n",
        "gone.txt": b"g\n"})
    with reviewed_and_eager(server, codebase_id) as (a, b):
        r = run(server, a, "rm -rf d && rm f.txt gone.txt && mv r.txt a_r.txt")
        assert r.exit_code == 0, r.stderr
        r = run(server, b, "echo NEW > d/new.txt && echo f1 > f.txt && echo r1 > r.txt && "
                "rm gone.txt")
        assert r.exit_code == 0, r.stderr
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=a))
        assert sorted(result.conflicts) == ["/a_r.txt", "/d", "/f.txt", "/r.txt"], result
        assert not result.applied  # gone.txt, deleted on both sides, is no change any more
        assert download(server, codebase_id, "d/new.txt") == b"NEW\n"
        assert download(server, codebase_id, "f.txt") == b"f1\n"
        assert download(server, codebase_id, "r.txt") == b"r1\n"


def test_a_change_deep_in_a_removed_directory_is_a_conflict(server):
    codebase_id = make_codebase(server, files={"d/sub/deep.txt": b"deep\n", "d/x": b"x\n"})
    a = make_sandbox(server, codebase_id, rules=WRITE_ALL, sync_mode=common.SYNC_MODE_MANUAL)
    b = make_sandbox(server, codebase_id, rules=WRITE_ALL)
    try:
        assert run(server, a, "rm -rf d").exit_code == 0
        assert run(server, b, "echo changed > d/sub/deep.txt").exit_code == 0
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=a))
        assert list(result.conflicts) == ["/d"], result
        assert "changed since the sandbox read it" in result.reasons["/d"]
        assert download(server, codebase_id, "d/sub/deep.txt") == b"changed\n"
        # Unchanged, the same deletion goes through, and the directory made again later
        # is new, not a change of the removed one.
        assert run(server, b, "echo deep > d/sub/deep.txt").exit_code == 0
        fresh = make_sandbox(server, codebase_id, rules=WRITE_ALL,
                             sync_mode=common.SYNC_MODE_MANUAL)
        try:
            assert run(server, fresh, "rm -rf d").exit_code == 0
            result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=fresh))
            assert list(result.applied) == ["/d"] and not result.conflicts, result
            assert run(server, fresh, "mkdir -p d/sub && echo again > d/sub/deep.txt").exit_code == 0
            result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=fresh))
            assert not result.conflicts, result
            assert download(server, codebase_id, "d/sub/deep.txt") == b"again\n"
        finally:
            server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=fresh))
    finally:
        for s in (a, b):
            server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=s))


def test_a_directory_renamed_onto_a_deleted_base_directory_keeps_its_deletions(server):
    """Diagnosis of attack sweep N3 (`mv` of a base directory failing with ENOTEMPTY
    under load): a directory renamed onto the name of a base directory the sandbox had
    deleted dropped the deletion records under that name and hid nothing, so the deleted
    base files came back: the diff listed only the new file, and the commit kept them."""
    codebase_id = make_codebase(server, files={"D/a": b"a\n", "D/b": b"b\n"})
    sandbox = make_sandbox(server, codebase_id, rules=WRITE_ALL, sync_mode=common.SYNC_MODE_MANUAL)
    try:
        r = run(server, sandbox, "rm -r D && mkdir E && echo c > E/c && mv E D && ls D")
        assert (r.exit_code, r.stdout) == (0, "c\n"), r
        changes = server.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox))
        assert sorted((c.path, c.kind) for c in changes.changes) == [
            ("/D/a", sb.CHANGE_KIND_DELETED), ("/D/b", sb.CHANGE_KIND_DELETED),
            ("/D/c", sb.CHANGE_KIND_ADDED)], changes
        server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox))
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))
    fresh = make_sandbox(server, codebase_id, rules=WRITE_ALL)
    try:
        assert run(server, fresh, "ls D").stdout == "c\n"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=fresh))


def test_a_file_renamed_over_another_sandboxs_newer_file_is_a_conflict(server):
    """`mv a b` over a base b: the commit overwrites b, so it must still be the version
    the rename replaced. The moved record carried a's stamp only, and the commit wrote a's
    content over the other sandbox's newer b and deleted a."""
    codebase_id = make_codebase(server, files={"a.txt": b"a0\n", "b.txt": b"b0\n"})
    with reviewed_and_eager(server, codebase_id) as (a, b):
        assert run(server, a, "mv a.txt b.txt").exit_code == 0
        assert run(server, b, "echo b1 > b.txt").exit_code == 0
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=a))
        assert sorted(result.conflicts) == ["/a.txt", "/b.txt"], result
        assert not result.applied, result
        assert download(server, codebase_id, "b.txt") == b"b1\n"
        assert download(server, codebase_id, "a.txt") == b"a0\n"


def test_a_new_file_in_a_directory_the_sandbox_made_again_is_a_conflict(server):
    """`rm -r d && mkdir d` hides what d held; the commit deletes those entries. Another
    sandbox's new d/c was never among them (the sandbox never saw it): the commit deleted
    it with no conflict."""
    codebase_id = make_codebase(server, files={"d/a": b"a\n"})
    with reviewed_and_eager(server, codebase_id) as (a, b):
        assert run(server, a, "rm -r d && mkdir d && echo new > d/b").exit_code == 0
        assert run(server, b, "echo theirs > d/c").exit_code == 0
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=a))
        assert list(result.conflicts) == ["/d/c"], result
        assert "after the sandbox deleted the directory" in result.reasons["/d/c"]
        assert sorted(result.applied) == ["/d/a", "/d/b"], result
        assert download(server, codebase_id, "d/c") == b"theirs\n"
        # It stays one: the commit wrote into d, whose marker became per-entry records.
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=a))
        assert list(result.conflicts) == ["/d/c"], result
        assert download(server, codebase_id, "d/c") == b"theirs\n"



def test_a_directory_made_again_and_renamed_away_keeps_its_deletions(server, import_root):
    """`rm -rf d && mkdir d && mv d e`, then the host edits d/f in place: the commit
    deletes the base d with what it held, so the newer d/f is a conflict, as after
    `rm -rf d` alone, whether the commit takes /d alone or everything. The rename took the
    deletion stamps along to e, where the base has nothing, and the commit deleted the
    host's d/f unchecked (an edit in place leaves d's own stamp as it was)."""
    project = os.path.join(import_root, "made_again_renamed_away")
    os.makedirs(os.path.join(project, "d"))
    for name in ("f", "g"):
        with open(os.path.join(project, "d", name), "w") as f:
            f.write(name + "0\n")
    os.system(f"chmod -R a+rwX {project}")
    codebase = server.codebases.ImportDirectory(cb.ImportDirectoryRequest(
        name="made_again_renamed_away", owner_id="o", path=project))
    a = make_sandbox(server, codebase.id, rules=WRITE_ALL, sync_mode=common.SYNC_MODE_MANUAL)
    try:
        assert run(server, a, "rm -rf d && mkdir d && echo n > d/n && mv d e").exit_code == 0
        with open(os.path.join(project, "d", "f"), "w") as f:
            f.write("host edit\n")
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=a, paths=["/d"]))
        assert list(result.conflicts) == ["/d"], result
        assert "changed since the sandbox read it" in result.reasons["/d"]
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=a))
        assert list(result.conflicts) == ["/d"], result
        assert sorted(result.applied) == ["/e", "/e/n"], result
        with open(os.path.join(project, "d", "f")) as f:
            assert f.read() == "host edit\n"
        with open(os.path.join(project, "e", "n")) as f:
            assert f.read() == "n\n"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=a))


def imported_codebase(server, import_root: str, name: str, dirs=(), files=None) -> tuple[str, str]:
    """A codebase imported from a directory the test then changes as the host: its id and
    that directory."""
    project = os.path.join(import_root, name)
    for d in dirs:
        os.makedirs(os.path.join(project, d))
    for path, text in (files or {}).items():
        os.makedirs(os.path.dirname(os.path.join(project, path)), exist_ok=True)
        with open(os.path.join(project, path), "w") as f:
            f.write(text)
    os.system(f"chmod -R a+rwX {project}")
    codebase = server.codebases.ImportDirectory(cb.ImportDirectoryRequest(
        name=name, owner_id="o", path=project))
    return codebase.id, project


def test_a_base_directory_replaced_by_a_rename_keeps_what_the_host_adds(server, import_root):
    """Attack sweep U5: `mkdir e && mv -T e d` over an empty base d (tools that replace a
    directory atomically do this), then the host creates d/new: the commit deleted it with
    no conflict, as `rmdir d && mkdir d` never did. The rename recorded no version of the
    directory it replaced, so nothing told d/new from what the sandbox saw there."""
    codebase_id, project = imported_codebase(server, import_root, "replaced_by_rename",
                                             dirs=["d"], files={"s/sf": "sf\n"})
    a = make_sandbox(server, codebase_id, rules=WRITE_ALL, sync_mode=common.SYNC_MODE_MANUAL)
    try:
        assert run(server, a, "mkdir e && mv -T e d").exit_code == 0
        with open(os.path.join(project, "d", "new"), "w") as f:
            f.write("host new\n")
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=a))
        assert list(result.conflicts) == ["/d/new"], result
        assert "after the sandbox deleted the directory" in result.reasons["/d/new"]
        with open(os.path.join(project, "d", "new")) as f:
            assert f.read() == "host new\n"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=a))


def test_a_directory_made_again_and_moved_to_a_new_name_keeps_what_the_host_adds(
        server, import_root):
    """Attack sweep U11: `rm -rf d && mkdir d && mv -T d e`, then the host creates e/new:
    the commit deleted it with no conflict. The marker that hid the base d moved with the
    directory to e, where the base had nothing, and hid what the host made there."""
    codebase_id, project = imported_codebase(server, import_root, "moved_to_new_name",
                                             files={"d/f": "f0\n"})
    a = make_sandbox(server, codebase_id, rules=WRITE_ALL, sync_mode=common.SYNC_MODE_MANUAL)
    try:
        assert run(server, a, "rm -rf d && mkdir d && echo n > d/n && mv -T d e").exit_code == 0
        os.mkdir(os.path.join(project, "e"))
        with open(os.path.join(project, "e", "new"), "w") as f:
            f.write("host new\n")
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=a))
        assert not result.conflicts, result
        with open(os.path.join(project, "e", "new")) as f:
            assert f.read() == "host new\n"
        with open(os.path.join(project, "e", "n")) as f:
            assert f.read() == "n\n"
        assert not os.path.exists(os.path.join(project, "d"))
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=a))


def test_a_partial_commit_keeps_the_hosts_entry_in_a_directory_made_again(server, import_root):
    """Attack sweep U8: `rm -rf d && mkdir d`, the host creates d/new, then a commit of
    [/d/f] and a commit of all: the second deleted d/new with no conflict (a commit of all
    alone refuses it). The partial commit turned d's marker into whiteouts, one over
    d/new, and committing d itself then dropped the stamp that told it apart."""
    codebase_id, project = imported_codebase(server, import_root, "partial_then_all",
                                             files={"d/f": "f0\n", "d/g": "g0\n"})
    a = make_sandbox(server, codebase_id, rules=WRITE_ALL, sync_mode=common.SYNC_MODE_MANUAL)
    try:
        assert run(server, a, "rm -rf d && mkdir d").exit_code == 0
        with open(os.path.join(project, "d", "new"), "w") as f:
            f.write("host new\n")
        result = server.sandboxes.CommitChanges(
            sb.CommitChangesRequest(sandbox_id=a, paths=["/d/f"]))
        assert list(result.applied) == ["/d/f"] and not result.conflicts, result
        result = server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=a))
        assert list(result.conflicts) == ["/d/new"], result
        assert "/d/g" in result.applied, result
        with open(os.path.join(project, "d", "new")) as f:
            assert f.read() == "host new\n"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=a))
