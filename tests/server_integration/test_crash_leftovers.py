"""What a process killed midway leaves inside a codebase. A commit builds each file under
a temporary `.agentfense-commit-*` name beside its target, and an upload into an imported
directory on another filesystem stages its tree in `.af-staging-*` at that directory's
root. Attack sweep K: an fs process killed mid-commit, or a server killed mid-upload,
left these for good (no sandbox sees them, so nothing ever removed them), and the
codebase API listed, served and charged them. A server killed while it removed a deleted
codebase's files then removed the rest before it listened again (K17)."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
import threading
import time

import grpc
import pytest
import requests

from conftest import make_codebase, make_sandbox, run
from server_harness import cb, common, reason_of, rule, sb, serving
from test_process_limits import sandbox_cgroups
from test_stop_restart import fs_processes, wait_for

COMMIT_TEMP = ".agentfense-commit-"
FILES = 3000


@pytest.fixture(scope="module")
def import_root():
    # On another filesystem than the data directory (/tmp): uploads stage in the
    # imported directory itself only then.
    root = tempfile.mkdtemp(prefix="af-leftovers-import-", dir="/dev/shm")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def srv(import_root):
    yield from serving("af-leftovers-", config=f"storage:\n  import_roots: [{import_root}]\n")


def temps_on_disk(root: str) -> list[str]:
    return [os.path.join(d, n) for d, dirs, files in os.walk(root)
            for n in dirs + files if n.startswith(COMMIT_TEMP)]


def listed(srv, codebase_id: str) -> list[str]:
    reply = srv.codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase_id, recursive=True))
    return [f.path for f in reply.files]


def kill_fs_mid_commit(srv, codebase_id: str, sandbox_id: str) -> list[str]:
    """Commits FILES new files and kills the sandbox's fs process while the commit has
    temporary entries in the codebase; returns those left on disk."""
    [fs_pid] = fs_processes(srv, sandbox_id)
    base = os.path.join(srv.data_dir, "codebases", codebase_id)
    done = threading.Event()

    def commit():
        try:
            srv.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))
        except grpc.RpcError:
            pass  # the fs process died under it: expected
        done.set()

    threading.Thread(target=commit, daemon=True).start()
    wait_for(lambda: done.is_set() or temps_on_disk(base), seconds=60)
    os.kill(fs_pid, 9)
    assert done.wait(60)
    left = temps_on_disk(base)
    assert left, "the kill came too late to leave a temporary entry (nothing tested)"
    return left


def make_files_sandbox(srv) -> tuple[str, str]:
    codebase_id = make_codebase(srv, files={"a.txt": b"1\n"})
    sandbox_id = make_sandbox(srv, codebase_id, rules=[rule("**", "write")],
                              sync_mode=common.SYNC_MODE_MANUAL)
    run(srv, sandbox_id, f"mkdir d && for i in $(seq {FILES}); do echo $i > d/f$i; done")
    return codebase_id, sandbox_id


def counts(srv, codebase_id: str) -> tuple[int, int]:
    got = srv.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=codebase_id))
    return got.file_count, got.size


def expected_size() -> int:
    return 2 + sum(len(f"{i}\n") for i in range(1, FILES + 1))


def test_a_commit_removes_what_a_killed_commit_left(srv):
    codebase_id, sandbox_id = make_files_sandbox(srv)
    try:
        left = kill_fs_mid_commit(srv, codebase_id, sandbox_id)
        # Until they are removed, the codebase API neither lists nor serves them.
        assert not [p for p in listed(srv, codebase_id) if COMMIT_TEMP in p]
        with pytest.raises(grpc.RpcError) as e:
            srv.codebases.DownloadFile(cb.DownloadFileRequest(
                codebase_id=codebase_id, file_path="/d/" + os.path.basename(left[0]))).next()
        assert reason_of(e.value) == "INVALID_PATH" and "reserved" in e.value.details()
        srv.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
        srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox_id))
        srv.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))
        assert temps_on_disk(os.path.join(srv.data_dir, "codebases", codebase_id)) == []
        # Recounted in the background after a commit (stats_refresher.h).
        wait_for(lambda: counts(srv, codebase_id) == (FILES + 1, expected_size()))
    finally:
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_a_server_start_removes_what_a_killed_commit_left(srv):
    codebase_id, sandbox_id = make_files_sandbox(srv)
    kill_fs_mid_commit(srv, codebase_id, sandbox_id)
    srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    srv.stop()
    srv.start()
    assert temps_on_disk(os.path.join(srv.data_dir, "codebases", codebase_id)) == []
    assert not [p for p in listed(srv, codebase_id) if COMMIT_TEMP in p]


def slow_tar():
    """A tar of 3,000 files, sent slowly enough to kill the server in the middle."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(3000):
            info = tarfile.TarInfo(f"gen/f{i}")
            info.size = 1000
            tar.addfile(info, io.BytesIO(b"x" * 1000))
    raw = buf.getvalue()
    for i in range(0, len(raw), 65536):
        yield raw[i:i + 65536]
        time.sleep(0.05)


def test_a_server_start_removes_staging_a_killed_upload_left_in_an_imported_directory(
        srv, import_root):
    project = tempfile.mkdtemp(dir=import_root)
    os.makedirs(os.path.join(project, "src"))
    open(os.path.join(project, "src", "a.txt"), "w").write("A")
    # A user's own entry with the prefix but not AgentFense's exact name stays.
    open(os.path.join(project, ".af-staging-notes"), "w").write("mine")
    codebase_id = srv.codebases.ImportDirectory(cb.ImportDirectoryRequest(
        name="imp", path=project)).id

    def staging():
        return [n for n in os.listdir(project) if n.startswith(".af-staging-stage_")]

    def upload():
        http = requests.Session()
        http.trust_env = False
        try:  # REST: its entries reach the staging directory as they arrive
            http.post(f"{srv.http}/v1/codebases/{codebase_id}/archive", data=slow_tar(),
                      timeout=60)
        except requests.RequestException:
            pass  # the server was killed under it: expected

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    wait_for(staging)
    srv.kill()
    thread.join(60)
    try:
        assert staging(), "the kill came too late to leave a staging directory (nothing tested)"
    finally:
        srv.start()
    wait_for(lambda: staging() == [])  # removed in the background once the server listens
    assert sorted(os.listdir(project)) == [".af-staging-notes", "src"]
    assert listed(srv, codebase_id) == ["/src", "/src/a.txt"]
    srv.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=codebase_id))


def tar_of(count: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(count):
            info = tarfile.TarInfo(f"d{i % 30}/f{i}")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


def plant_tree(root: str, count: int) -> None:
    for i in range(count):
        os.makedirs(os.path.join(root, f"d{i % 30}"), exist_ok=True)
        with open(os.path.join(root, f"d{i % 30}", f"f{i}"), "wb") as f:
            f.write(b"x")


def log_events(srv) -> list[str]:
    return [json.loads(line).get("event") for line in srv.read_log().splitlines() if line.startswith("{")]


# K17: removing a deleted codebase's files (one unlink per file: 30,000 files took 85 s on
# a slow disk) ran inside DeleteCodebase, and after a kill -9 midway, before the next start
# listened. Both now only rename the tree out of the way; a background thread removes it
# once the server listens.
def test_deleting_a_large_codebase_and_restarting_do_not_wait_for_its_files(srv):
    codebases = os.path.join(srv.data_dir, "codebases")
    codebase_id = make_codebase(srv, files={})
    http = requests.Session()
    http.trust_env = False
    reply = http.post(f"{srv.http}/v1/codebases/{codebase_id}/archive", data=tar_of(FILES),
                      timeout=120)
    assert reply.status_code == 200, reply.text
    began = time.monotonic()
    srv.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=codebase_id))
    took = time.monotonic() - began
    assert took < 2, f"DeleteCodebase of {FILES} files took {took:.1f} s"
    assert not os.path.exists(os.path.join(codebases, codebase_id))
    srv.kill()
    # What a kill between the delete's commit and its hand-over leaves (K17's repro state).
    left = os.path.join(codebases, ".staging", "deleted_cb_00000000000000aa")
    plant_tree(left, FILES)
    began = time.monotonic()
    srv.start()
    took = time.monotonic() - began
    assert took < 3, f"the start with {FILES} files to remove listened after {took:.1f} s"
    assert not os.path.exists(left)  # set aside at once
    # A codebase made while the trash is emptied is not touched by it.
    fresh = make_codebase(srv, files={"a.txt": b"A"})
    trash = os.path.join(codebases, ".trash")
    wait_for(lambda: not os.path.isdir(trash) or os.listdir(trash) == [], seconds=300)
    events = log_events(srv)
    last_listen = max(i for i, e in enumerate(events) if e == "server.listening")
    # Removed by the background thread, after the server listened (not by start-up).
    assert "store.trash_emptied" in events[last_listen:], events[last_listen:]
    assert listed(srv, fresh) == ["/a.txt"]
    srv.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=fresh))


def test_a_server_start_removes_the_cgroups_a_killed_server_left(srv):
    """A server killed with SIGKILL left its sandboxes' and commands' cgroups (with any
    process still in them) until some later cgroup was made in the same place; a start
    with no sandbox to run never removed them (attack sweep N2)."""
    sandbox_id = make_sandbox(srv, make_codebase(srv))
    session = srv.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox_id)).id
    assert srv.sandboxes.SessionExec(sb.SessionExecRequest(
        session_id=session, command="setsid sleep 300 & echo ok")).stdout == "ok\n"
    killed_pid = srv.proc.pid
    left = sandbox_cgroups(killed_pid)
    assert left, "no sandbox cgroup while the sandbox runs"
    srv.kill()
    assert sandbox_cgroups(killed_pid) == left  # nothing else removes them
    srv.start()
    wait_for(lambda: not sandbox_cgroups(killed_pid), 10)
    srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
