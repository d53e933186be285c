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

import json
import os
import shutil
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
    def __init__(self, tmp: Path, repo: Path, prewarm: bool = True):
        self.point = tmp / "mnt"
        self.sock = tmp / "control.sock"
        self.trail = tmp / "trail.jsonl"
        self.point.mkdir()
        (tmp / "policy.json").write_text(json.dumps(POLICY))
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
        seen = as_agent(f"find {mount.point} | wc -l; cat {mount.point}/pkg*/src/*.py | wc -l")
        assert seen.stdout.split() == ["543", "500"], seen  # .env is hidden
        after = control(mount.sock, "stats")
        assert after["requests"]["readdir"] == before["requests"]["readdir"], (before, after)
        assert after["requests"]["reads"] == before["requests"]["reads"], (before, after)
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
