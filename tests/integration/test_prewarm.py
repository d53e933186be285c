"""Issue 14 item 3: `agentfense mount --prewarm` (what the server runs for each sandbox,
`sandbox.prewarm`) warms the kernel's caches in the background, so that the first
command finds them as a second one would, and the walk is invisible: it walks as the
sandbox's own ids (what the agent may not read, it does not read), it leaves nothing in
the audit trail, and it dies with the mount.

"Warm" is measured by the fs process's own request counters (the control socket's
`stats`): after the walk, listing every directory and reading every file as the agent
sends the daemon no READDIR and no READ at all.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import select
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness import agentfense_bin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probes"))
from control_socket import control_request  # noqa: E402

AGENT = 60999  # the ids the walk and the "agent" below use

POLICY = [{"pattern": "**", "permission": "read"},
          {"pattern": "**/.env", "permission": "none"},
          {"pattern": "docs/**", "permission": "view"}]


def control(sock: Path, op: str) -> dict:
    reply = control_request(sock, op)
    assert reply["ok"], reply
    return reply


def as_agent(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", f"--reuid={AGENT}", f"--regid={AGENT}", "--clear-groups",
                           "sh", "-c", script], capture_output=True, text=True, timeout=120)


class Mount:
    def __init__(self, tmp: Path, repo: Path, prewarm: bool = True, policy: list = POLICY):
        self.point = tmp / "mnt"
        self.sock = tmp / "control.sock"
        self.trail = tmp / "trail.jsonl"
        self.point.mkdir()
        (tmp / "policy.json").write_text(json.dumps(policy))
        os.chmod(tmp, 0o755)  # the agent's ids reach the mountpoint
        self.proc = subprocess.Popen(
            [agentfense_bin(), "mount", "--policy", str(tmp / "policy.json"),
             "--owner", f"{AGENT}:{AGENT}", "--state-dir", str(tmp / "state"),
             "--control-socket", str(self.sock), "--audit", str(self.trail)]
            + (["--prewarm"] if prewarm else []) + [str(repo), str(self.point)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while not (os.path.ismount(self.point) and self.sock.exists()):
            assert self.proc.poll() is None, self.proc.stdout.read()
            assert time.monotonic() < deadline, "mount did not come up"
            time.sleep(0.05)

    def wait_walked(self) -> dict:
        deadline = time.monotonic() + 60
        while (stats := control(self.sock, "stats"))["prewarm"] == "walking":
            assert time.monotonic() < deadline, stats
            time.sleep(0.05)
        return stats

    def stop(self) -> str:
        self.proc.terminate()
        output, _ = self.proc.communicate(timeout=30)
        assert not os.path.ismount(self.point), output
        return output


@pytest.fixture
def tmp_path():
    """A directory the agent's ids can traverse (pytest's own is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="af-prewarm-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    for d in range(20):
        sub = root / f"pkg{d}" / "src"
        sub.mkdir(parents=True)
        for f in range(25):
            (sub / f"m{f}.py").write_text(f"value = {d * 100 + f}\n")
    (root / ".env").write_text("API_KEY=s3cr3t\n")
    (root / "docs").mkdir()
    (root / "docs" / "design.md").write_text("view only\n")
    return root


def test_after_the_walk_a_first_listing_and_read_reach_the_daemon_not_at_all(tmp_path, repo):
    (tmp_path / "m").mkdir()
    mount = Mount(tmp_path / "m", repo)
    try:
        before = mount.wait_walked()
        assert before["prewarm"] == "done"
        # grep's order: stat, then read. The walk's READs left atimes stale in the kernel;
        # without its fstat after each read, every stat here was a GETATTR.
        seen = as_agent(f"find {mount.point} | wc -l; stat -c %s {mount.point}/pkg*/src/*.py "
                        f"| wc -l; cat {mount.point}/pkg*/src/*.py | wc -l")
        assert seen.stdout.split() == ["543", "500", "500"], seen  # .env is hidden
        after = control(mount.sock, "stats")
        assert after["requests"]["readdir"] == before["requests"]["readdir"], (before, after)
        assert after["requests"]["reads"] == before["requests"]["reads"], (before, after)
        assert after["requests"]["getattr"] - before["requests"]["getattr"] <= 5, (before, after)
    finally:
        output = mount.stop()
    assert '"complete":true' in output or "complete=true" in output, output


def test_without_the_flag_the_first_command_pays_the_round_trips(tmp_path, repo):
    """The control: the same first command on a mount without the walk."""
    (tmp_path / "m").mkdir()
    mount = Mount(tmp_path / "m", repo, prewarm=False)
    try:
        before = control(mount.sock, "stats")
        assert before["prewarm"] == "off"
        as_agent(f"find {mount.point} >/dev/null; cat {mount.point}/pkg*/src/*.py >/dev/null")
        after = control(mount.sock, "stats")
        assert after["requests"]["readdir"] - before["requests"]["readdir"] >= 40
        assert after["requests"]["reads"] > before["requests"]["reads"]
    finally:
        mount.stop()


def test_the_walk_leaves_the_trail_to_the_agent_and_reads_only_what_it_may(tmp_path, repo):
    (tmp_path / "m").mkdir()
    mount = Mount(tmp_path / "m", repo)
    try:
        mount.wait_walked()
        mount.stop()
        # Nothing but the agent's own actions may be in the trail: the walk read 500
        # files and listed 42 directories as the sandbox's ids, and none of it is there.
        assert mount.trail.read_text() == "", mount.trail.read_text()[:2000]
    finally:
        if mount.proc.poll() is None:
            mount.stop()
    # What the agent may not read, the walk did not read either: it never asked for
    # docs/design.md's content (view) nor looked up .env (hidden). A fresh mount with the
    # walk, then the agent's refused attempts are the only events.
    (tmp_path / "n").mkdir()
    mount = Mount(tmp_path / "n", repo)
    try:
        stats = mount.wait_walked()
        assert stats["requests"]["reads"] <= 25, stats  # one READ per pushed batch at most
        refused = as_agent(f"cat {mount.point}/docs/design.md {mount.point}/.env")
        assert refused.returncode != 0 and "view only" not in refused.stdout
    finally:
        mount.stop()
    events = [json.loads(line) for line in mount.trail.read_text().splitlines()]
    assert events and all(e["outcome"] == "denied" for e in events), events
    assert {e["path"] for e in events} == {"/docs/design.md", "/.env"}, events


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process below `pid`, from /proc/*/stat."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited meanwhile
        state, ppid = text[text.rindex(")") + 2:].split()[:2]
        parents.setdefault(int(ppid), []).append((int(stat.parent.name), state))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def test_the_finished_walker_keeps_its_pid_from_the_agent(tmp_path, repo):
    """The walker's requests stay out of the trail by its pid. Once it has finished, the
    kernel must not hand that pid to an agent's process, whose every request would then
    go unrecorded (an agent can cycle pids until it gets it): the exited walker stays a
    zombie for as long as the mount serves, and the agent's requests after the walk are
    recorded."""
    (tmp_path / "m").mkdir()
    mount = Mount(tmp_path / "m", repo)
    try:
        assert mount.wait_walked()["prewarm"] == "done"
        for _ in range(3):  # status queries after the end change nothing
            assert control(mount.sock, "stats")["prewarm"] == "done"
        below = descendants(mount.proc.pid)
        assert [state for _, state in below] == ["Z"], below
        refused = as_agent(f"cat {mount.point}/.env")
        assert refused.returncode != 0
    finally:
        mount.stop()
    events = [json.loads(line) for line in mount.trail.read_text().splitlines()]
    assert [(e["path"], e["outcome"]) for e in events] == [("/.env", "denied")], events


def test_stopping_the_mount_mid_walk_kills_the_walker(tmp_path):
    big = tmp_path / "big"
    for d in range(200):
        sub = big / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(100):
            (sub / f"f{f}").write_text("x" * 100)
    (tmp_path / "m").mkdir()
    mount = Mount(tmp_path / "m", big)
    walking = control(mount.sock, "stats")["prewarm"]
    mount.stop()
    left = subprocess.run(["pgrep", "-f", f"{agentfense_bin()} prewarm"], capture_output=True,
                          text=True)
    assert left.stdout == "", (walking, left.stdout)


class HostOpens:
    """inotify on host directories: whether anything opened, read or listed in them."""
    IN_ACCESS, IN_OPEN = 0x1, 0x20

    def __init__(self, *dirs: Path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        self.names = {}
        for d in dirs:
            wd = self.libc.inotify_add_watch(self.fd, str(d).encode(), self.IN_ACCESS | self.IN_OPEN)
            assert wd >= 0, os.strerror(ctypes.get_errno())
            self.names[wd] = d

    def events(self) -> list:
        seen = []
        while select.select([self.fd], [], [], 0)[0]:
            data = os.read(self.fd, 65536)
            while data:
                wd, mask, _, length = struct.unpack_from("iIII", data)
                name = data[16:16 + length].rstrip(b"\0").decode()
                seen.append((str(self.names[wd]), name, hex(mask)))
                data = data[16 + length:]
        return seen

    def close(self) -> None:
        os.close(self.fd)


def test_names_swapped_for_symlinks_never_lead_the_walk_outside_the_mount(tmp_path):
    """The walk runs on the host, over the mount: a symlink the agent makes there would
    resolve on the host. While the walk runs, the agent keeps swapping directories it
    made for symlinks to a host directory (absolute and climbing out with ../), and
    leaves symlinks to it and to a file in it; the walk must finish without opening,
    reading or listing anything in that directory (inotify on the host)."""
    decoy = tmp_path / "decoy"
    (decoy / "sub").mkdir(parents=True)
    for f in range(20):  # the names the agent's directories hold, so a followed path opens
        (decoy / f"f{f}").write_text("host file\n")
        (decoy / "sub" / f"f{f}").write_text("host file\n")
    os.chmod(decoy, 0o755)
    os.chmod(decoy / "sub", 0o755)
    base = tmp_path / "base"
    for d in range(60):  # enough for the walk to take a while
        sub = base / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(40):
            (sub / f"f{f}").write_text("x" * 200)
    (tmp_path / "m").mkdir()
    watch = HostOpens(decoy, decoy / "sub")
    mount = Mount(tmp_path / "m", base, policy=[{"pattern": "**", "permission": "write"}])
    point = mount.point
    climb = "../" * len(point.parts) + str(decoy).lstrip("/")
    stop = tmp_path / "stop"
    swapper = subprocess.Popen(
        ["setpriv", f"--reuid={AGENT}", f"--regid={AGENT}", "--clear-groups", "sh", "-c", f"""
        cd {point} || exit 1
        ln -s {decoy} abs; ln -s {climb} rel; ln -s {decoy}/f1 file; ln -s {decoy}/sub/f2 f2
        for i in $(seq 0 15); do
          mkdir s$i; for f in $(seq 0 19); do echo agent > s$i/f$f; done
          mkdir s$i/sub; echo agent > s$i/sub/f1
        done
        echo ready
        n=0
        while [ ! -e {stop} ]; do
          for i in $(seq 0 15); do
            mv s$i s$i.real; ln -s {decoy} s$i; ln -s {climb} s$i.up
            rm s$i s$i.up; mv s$i.real s$i
          done
          n=$((n + 1))
        done
        echo "swapped $n"
        """], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The walk starts 500 ms after the mount is up; the agent is set up by then.
        assert swapper.stdout.readline().strip() == "ready"
        stats = mount.wait_walked()
        stop.touch()
        out, _ = swapper.communicate(timeout=60)
        assert stats["prewarm"] == "done", stats
        swaps = int(out.split()[-1])
        assert swaps > 0, out
        opened = watch.events()
        assert opened == [], opened[:20]
        # The mount still serves the agent, and the agent's own links still work for it
        # (they point where the agent asked, on its side of the boundary).
        listed = as_agent(f"ls {point}/s0 | wc -l; cat {point}/d3/f3 | wc -c")
        assert listed.stdout.split() == ["21", "200"], listed
    finally:
        stop.touch()
        if swapper.poll() is None:
            swapper.kill()
        mount.stop()
        watch.close()


def test_run_prewarm_walks_beside_the_command_and_stays_out_of_its_trail(tmp_path, repo):
    """`agentfense run --prewarm` walks the codebase while the command runs (as server
    sandboxes do): the command reads what it reads, hidden files stay hidden, the trail
    holds the command's own opens and not one of the walker's, and a command shorter than
    the walk ends the run cleanly (the walker stopped mid-walk, nothing on stderr)."""
    trail = tmp_path / "trail.jsonl"

    def run(script: str, prewarm: bool) -> tuple[subprocess.CompletedProcess, list[dict]]:
        trail.unlink(missing_ok=True)
        done = subprocess.run(
            [agentfense_bin(), "run", *(["--prewarm"] if prewarm else []), "--preset",
             "agent-safe", "--audit", str(trail), "--changes", "discard", str(repo), "--",
             "sh", "-c", script], capture_output=True, text=True, timeout=120)
        return done, [json.loads(line) for line in trail.read_text().splitlines()]

    script = "grep -r value . | wc -l; cat .env 2>&1"
    plain, plain_events = run(script, prewarm=False)
    warm, warm_events = run(script, prewarm=True)
    assert warm.returncode == plain.returncode and warm.stdout == plain.stdout, (warm, plain)
    assert warm.stdout.startswith("500\n") and "s3cr3t" not in warm.stdout
    assert warm.stderr == "", warm.stderr

    def opens(events: list[dict]) -> list[str]:
        return sorted(e["path"] for e in events if e.get("op") == "open_read")
    # The 500 modules and docs/design.md, as without the walker.
    assert opens(warm_events) == opens(plain_events) and len(opens(warm_events)) == 501

    short, short_events = run("true", prewarm=True)
    assert short.returncode == 0 and short.stderr == "", short.stderr
    assert not [e for e in short_events if e["kind"] == "file"], short_events
