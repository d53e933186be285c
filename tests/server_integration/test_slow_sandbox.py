"""One slow sandbox must not stall the server (issue 15): while one sandbox is slow to
start or slow to destroy, the commands of another sandbox keep answering at their usual
pace; a destroy cut short by a crash leaves nothing behind; and a commit of a stopped
sandbox's layer is never raced by a start of that sandbox.

Nothing in the server is made slow for the test. A slow start is a slow fs process: the
server runs the `agentfense` found next to its own binary as every mount's process, and
here that is a wrapper which, while a flag file exists, waits before it execs the real
one (as a loaded or swapping host would). A slow destroy is a write layer of 2,000
directories and 50,000 files. Latencies are compared with the slow operation's own
duration, not with absolute numbers, because this runs on a loaded 2-core machine."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from conftest import make_codebase, make_sandbox, run
from server_harness import Server, agentfense_bin, common, sb, serving

MOUNT_DELAY = 3  # seconds a slow fs process waits before it starts


@pytest.fixture(scope="module")
def binaries():
    """A directory with agentfense-server (hard-linked, so its sibling is looked up here)
    and an `agentfense` wrapper around the real one. Returns (wrapper, flag): while the
    flag file exists, the mount of the sandbox whose id it holds is slow."""
    real = Path(agentfense_bin()).resolve()
    d = Path(tempfile.mkdtemp(prefix="af-slowbin-"))
    try:
        os.link(real.parent / "agentfense-server", d / "agentfense-server")
    except OSError:  # another file system
        shutil.copy2(real.parent / "agentfense-server", d / "agentfense-server")
    slow = d / "slow-mount"
    wrapper = d / "agentfense"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = server ]; then shift; exec "{d}/agentfense-server" "$@"; fi\n'
        f'if [ "$1" = mount ] && [ -e "{slow}" ]; then\n'
        f'  case " $* " in *"$(cat "{slow}")"*) sleep {MOUNT_DELAY};; esac\n'
        'fi\n'
        f'exec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    yield str(wrapper), slow
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def srv(binaries):
    yield from serving("af-slow-", config="runtime:\n  max_timeout: 10m\n",
                       program=binaries[0])


def _seconds(n: int) -> Duration:
    return Duration(seconds=n)


def heavy_sandbox(server, codebase_id: str, directory: str = "output/many",
                  dirs: int = 2_000, files_per_dir: int = 25) -> str:
    """A stopped sandbox whose write layer holds `dirs` new directories under `directory`
    with `files_per_dir` empty files each (manual sync: they stay in the layer). Removing
    directories is what makes a destroy slow: 2,000 of them with 50,000 files take seconds
    on this machine's disk."""
    sandbox_id = make_sandbox(server, codebase_id, sync_mode=common.SYNC_MODE_MANUAL)
    r = run(server, sandbox_id,
            f"mkdir -p {directory} && cd {directory} && seq -f d%g 1 {dirs} | xargs mkdir && "
            f"for i in $(seq 1 {files_per_dir}); do seq -f d%g/f$i 1 {dirs}; done | xargs touch",
            timeout=_seconds(600))
    assert r.exit_code == 0, r.stderr
    server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id))
    return sandbox_id


class LatencyProbe:
    """Runs `true` in a sandbox over and over on a thread of its own, recording when each
    call started and how long it took."""

    def __init__(self, server, sandbox_id: str) -> None:
        self.server, self.sandbox_id = server, sandbox_id
        self.samples: list[tuple[float, float]] = []  # (start, seconds)
        self.errors: list[Exception] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                run(self.server, self.sandbox_id, "true", timeout=_seconds(120))
            except Exception as error:  # noqa: BLE001 - reported by the test
                self.errors.append(error)
                return
            self.samples.append((started, time.monotonic() - started))

    def __enter__(self) -> "LatencyProbe":
        self._thread.start()
        time.sleep(1.0)  # the usual latency, before the slow operation
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.3)
        self._stop.set()
        self._thread.join(timeout=180)

    def check_not_stalled(self, what: str, begin: float, end: float) -> None:
        assert not self.errors, self.errors
        took = end - begin
        # The calls in flight at some point of [begin, end], and those before.
        during = [d for s, d in self.samples if s <= end and s + d >= begin]
        usual = sorted(d for s, d in self.samples if s + d < begin)
        print(f"\n{what}: {took:.2f}s; exec latency of another sandbox: before max "
              f"{usual[-1]:.3f}s median {usual[len(usual) // 2]:.3f}s ({len(usual)} calls), "
              f"during max {max(during):.3f}s median {sorted(during)[len(during) // 2]:.3f}s "
              f"({len(during)} calls)")
        assert took >= 5 * usual[-1], f"the {what} took {took:.2f}s: too quick to show anything"
        # An exec that waited for the slow operation took about as long as it.
        assert max(during) < took / 2, (
            f"an exec of another sandbox took {max(during):.2f}s during a {took:.2f}s {what}")
        assert len(during) >= 3, f"only {len(during)} execs overlapped the {what}"


def timed(call) -> tuple[float, float]:
    begin = time.monotonic()
    call()
    return begin, time.monotonic()


def test_slow_start_does_not_stall_other_sandboxes(srv, binaries):
    codebase_id = make_codebase(srv, files={"a.txt": b"1\n"})
    slow = make_sandbox(srv, codebase_id, start=False)
    other = make_sandbox(srv, codebase_id)
    flag = binaries[1]
    flag.write_text(slow)
    try:
        with LatencyProbe(srv, other) as probe:
            begin, end = timed(lambda: srv.sandboxes.StartSandbox(
                sb.StartSandboxRequest(sandbox_id=slow)))
    finally:
        flag.unlink()
    probe.check_not_stalled("start", begin, end)
    assert end - begin >= MOUNT_DELAY
    assert run(srv, slow, "cat a.txt").stdout == "1\n"  # it did start
    for sandbox_id in (slow, other):
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_slow_start_does_not_delay_other_starts_or_sessions(srv, binaries):
    codebase_id = make_codebase(srv, files={"a.txt": b"1\n"})
    slow, later = (make_sandbox(srv, codebase_id, start=False) for _ in range(2))
    running = make_sandbox(srv, codebase_id)
    flag = binaries[1]
    flag.write_text(slow)
    try:
        with ThreadPoolExecutor(1) as pool:
            began = time.monotonic()
            slow_start = pool.submit(srv.sandboxes.StartSandbox,
                                     sb.StartSandboxRequest(sandbox_id=slow))
            time.sleep(0.5)  # the slow mount is under way
            assert not slow_start.done()
            srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=later))
            session = srv.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=running))
            others_done = time.monotonic() - began
            # Both went through while the slow start still waited for its mount.
            assert not slow_start.done(), (
                f"another start and a session took {others_done:.2f}s: they waited for "
                "the slow start")
            slow_start.result()
    finally:
        flag.unlink()
    print(f"\nanother start and a session creation: {others_done - 0.5:.2f}s during a "
          f"{time.monotonic() - began:.2f}s start")
    assert run(srv, later, "cat a.txt").stdout == "1\n"
    srv.sandboxes.DestroySession(sb.DestroySessionRequest(session_id=session.id))
    for sandbox_id in (slow, later, running):
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def test_slow_destroy_does_not_stall_other_sandboxes(srv):
    codebase_id = make_codebase(srv, files={"a.txt": b"1\n", "output/keep": b""})
    heavy = heavy_sandbox(srv, codebase_id)
    other = make_sandbox(srv, codebase_id)
    with LatencyProbe(srv, other) as probe:
        begin, end = timed(lambda: srv.sandboxes.DestroySandbox(
            sb.DestroySandboxRequest(sandbox_id=heavy)))
    probe.check_not_stalled("destroy", begin, end)
    # The whole tree went, before the call returned; the trash is empty again.
    trees = Path(srv.data_dir) / "sandboxes"
    assert not (trees / heavy).exists()
    assert list((trees / ".trash").iterdir()) == []
    srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=other))


def exists(server, sandbox_id: str) -> bool:
    try:
        server.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))
        return True
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND, error
        return False


def test_destroy_cut_short_by_a_crash_leaves_nothing():
    data_dir = tempfile.mkdtemp(prefix="af-slow-crash-")
    server = Server(data_dir).start()
    try:
        codebase_id = make_codebase(server, files={"output/keep": b""})
        heavy = heavy_sandbox(server, codebase_id)
        trees = Path(data_dir) / "sandboxes"
        with ThreadPoolExecutor(1) as pool:
            destroy = pool.submit(server.sandboxes.DestroySandbox,
                                  sb.DestroySandboxRequest(sandbox_id=heavy))
            # Killed as soon as the record is gone: the layer is still there to remove.
            while exists(server, heavy) and not destroy.done():
                time.sleep(0.002)
            assert not destroy.done(), "the destroy was over before the crash"
            server.kill()
        left = [p for p in trees.rglob("*") if heavy in str(p)]
        assert left, "the crash was meant to cut the removal short"
        server.start()
        left = [p for p in trees.rglob("*") if heavy in str(p)]
        assert left == [], f"{len(left)} paths of the destroyed sandbox survived a restart"
        assert list(trees.iterdir()) == [trees / ".trash"]
    finally:
        if server.proc and server.proc.poll() is None:
            assert server.stop() == 0
        shutil.rmtree(data_dir, ignore_errors=True)


def audit_ops(server, sandbox_id: str) -> list[str]:
    return [json.loads(e.line)["op"] for e in server.sandboxes.GetAuditEvents(
        sb.GetAuditEventsRequest(sandbox_id=sandbox_id, kind="security"), timeout=30)]


def test_offline_commit_and_start_are_serialised(srv):
    dirs, files_per_dir = 80, 25  # an offline commit of these takes seconds
    count = dirs * files_per_dir
    codebase_id = make_codebase(srv, files={"a.txt": b"1\n", "output/keep": b""})
    sandbox_id = heavy_sandbox(srv, codebase_id, "output/c", dirs, files_per_dir)
    base = Path(srv.data_dir) / "codebases" / codebase_id / "output" / "c"

    with ThreadPoolExecutor(2) as pool:
        t0 = time.monotonic()
        commit = pool.submit(srv.sandboxes.CommitChanges,
                             sb.CommitChangesRequest(sandbox_id=sandbox_id), timeout=600)
        # The start is asked for while the offline commit is visibly under way: some of
        # its files have reached the codebase, not all.
        deadline = time.monotonic() + 60
        while not (base.is_dir() and any(base.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not commit.done(), "the commit was over before the start could race it"
        start = pool.submit(srv.sandboxes.StartSandbox,
                            sb.StartSandboxRequest(sandbox_id=sandbox_id), timeout=600)
        committed = commit.result()
        print(f"\ncommit returned {time.monotonic() - t0:.2f}s after it was asked for")
        assert start.result().status == common.SANDBOX_STATUS_RUNNING
    assert sum(p.startswith("/output/c/d") and "/f" in p for p in committed.applied) == count
    assert not committed.conflicts and not committed.denied

    # The start waited for the commit, so its mount saw the layer as the commit left it.
    ops = audit_ops(srv, sandbox_id)
    last_start = max(i for i, op in enumerate(ops) if op == "sandbox_started")
    assert ops.index("commit") < last_start, ops
    changes = srv.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox_id))
    assert [c.path for c in changes.changes] == []
    assert sum(len(files) for _, _, files in os.walk(base)) == count
    assert run(srv, sandbox_id, "find output/c -type f | wc -l").stdout.strip() == str(count)
    srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
