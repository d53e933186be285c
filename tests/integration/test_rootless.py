"""Issue 16 item 4: `agentfense run`, `mount` and `mcp` as an unprivileged user.

A desktop ships /dev/fuse 0666, the setuid fusermount3 and unprivileged user namespaces;
this module sets the machine up the same way (a fresh user, /dev/fuse 0666) and runs the
real CLI as that user: the levels, escapes and change review must hold exactly as they do
as root, the sandbox must run with the user's own uid, the mount must be private to the
user, run state must live under $XDG_RUNTIME_DIR, and nothing may be left behind.
Skipped only where unprivileged user namespaces are off (bwrap cannot work there).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from harness import UserRunner, assert_no_secret, mounts_mentioning, tree_digest
from harness import as_user as as_user_argv

USER = "afrootless"
LEVELS = ["--preset", "agent-safe", "--rule", "docs/*.md=view:50"]
LIMITS_WARNING = ("agentfense: warning: no writable cgroup; --memory and --pids are not "
                  "enforced (rootless)")


def _sysctl(name: str) -> int | None:
    try:
        return int(Path("/proc/sys/" + name.replace(".", "/")).read_text())
    except (OSError, ValueError):
        return None


def _userns_unavailable_reason() -> str | None:
    if _sysctl("user.max_user_namespaces") == 0:
        return "user.max_user_namespaces is 0: no user namespaces for anyone"
    if _sysctl("kernel.unprivileged_userns_clone") == 0:
        return "kernel.unprivileged_userns_clone is 0: unprivileged user namespaces are off"
    if _sysctl("kernel.apparmor_restrict_unprivileged_userns") == 1:
        return "AppArmor restricts unprivileged user namespaces (no bwrap profile)"
    return None


@pytest.fixture(scope="module")
def user():
    """The unprivileged user (created if missing) and a machine set up as a desktop is:
    /dev/fuse 0666 (restored afterwards). Skips where bwrap cannot work unprivileged."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create the test user and open /dev/fuse to users")
    reason = _userns_unavailable_reason()
    if reason:
        pytest.skip(reason)
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", USER], check=True)
        entry = pwd.getpwnam(USER)
    probe = subprocess.run(
        as_user_argv(entry.pw_uid, entry.pw_gid,
                 ["bwrap", "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "true"]),
        capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"bwrap cannot create a user namespace as {USER}: {probe.stderr.strip()}")
    old_mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    os.chmod("/dev/fuse", 0o666)
    try:
        yield entry
    finally:
        os.chmod("/dev/fuse", old_mode)


@pytest.fixture
def home(user):
    """A scratch directory owned by the user: its codebase copy and its XDG_RUNTIME_DIR."""
    path = Path(tempfile.mkdtemp(prefix="af-rootless-", dir="/tmp"))
    os.chmod(path, 0o755)
    runtime_dir = path / "xdg"
    runtime_dir.mkdir(mode=0o700)
    os.chown(path, user.pw_uid, user.pw_gid)
    os.chown(runtime_dir, user.pw_uid, user.pw_gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def user_repo(repo: Path, home: Path, user) -> Path:
    """The sample repository (conftest.py) copied for the user and owned by them, as their
    own checkout would be."""
    dest = home / "repo"
    shutil.copytree(repo, dest, symlinks=True)
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(dest)], check=True)
    return dest


@pytest.fixture
def as_user(user, home, secrets, agentfense) -> UserRunner:
    runner = UserRunner(secrets["host_env"], user, home / "xdg")
    reachable = subprocess.run(as_user_argv(user.pw_uid, user.pw_gid, ["test", "-x", agentfense]))
    assert reachable.returncode == 0, f"{agentfense} must be executable by {USER}"
    return runner


def assert_nothing_left_by(user, repo: Path, runtime_dir: Path | None,
                          run_dirs: bool = True) -> None:
    """No process of the user and no mount of the repo or a run dir remain; nor a run
    directory, unless the run was killed (the next run sweeps those, as it does as root)."""
    deadline = time.monotonic() + 5
    while True:
        procs = [p for p in _user_pids(user.pw_uid)]
        mounts = mounts_mentioning([str(repo), "/agentfense", f"agentfense-{user.pw_uid}"])
        mounts = [m for m in mounts if f"user_id={user.pw_uid}" in m]
        if not procs and not mounts:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"leftovers: processes {procs}, mounts {mounts}")
        time.sleep(0.1)
    root = (runtime_dir / "agentfense") if runtime_dir else Path(f"/tmp/agentfense-{user.pw_uid}")
    if run_dirs and root.exists():
        assert [p.name for p in root.iterdir() if p.name.startswith("run-")] == []


def _user_pids(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^Uid:\s+(\d+)", status, re.M)
        if match and int(match.group(1)) == uid:
            pids.append(int(entry))
    return pids


def _pids_with_env(needle: str) -> list[int]:
    """Host pids whose environment holds `needle`: only the sandboxed command's (the CLI
    gets it as an argument, never in its environment)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def run_sh(as_user: UserRunner, repo: Path, script: str, *options: str):
    result = as_user.invoke(["run", *options, str(repo), "--", "sh", "-c", script])
    assert_nothing_left_by(as_user.user, repo, as_user.runtime_dir)
    return result


# --- levels ---------------------------------------------------------------------------

def test_none_is_absent_from_ls_find_and_grep(as_user, user_repo, secrets):
    result = run_sh(as_user, user_repo,
                    "ls -a /workspace; find /workspace -name '*.env*' -o -name '*.pem' "
                    "-o -name secrets; grep -r SECRET /workspace; cat /workspace/.env; "
                    "echo done", *LEVELS)
    assert "done" in result.stdout, result.describe()
    names = result.stdout.split()
    assert "src" in names and ".env" not in names and ".git" not in names, result.describe()
    assert "No such file or directory" in result.stderr, result.describe()
    assert_no_secret(result.output, secrets, result.describe())
    assert LIMITS_WARNING in result.stderr.splitlines(), result.describe()


def test_view_is_listed_but_unreadable(as_user, user_repo):
    result = run_sh(as_user, user_repo, "ls /workspace/docs; cat /workspace/docs/guide.md",
                    *LEVELS)
    assert result.stdout.split()[:2] == ["api.md", "guide.md"], result.describe()
    assert "Permission denied" in result.stderr and "Read me" not in result.stdout


def test_read_is_not_writable(as_user, user_repo):
    result = run_sh(as_user, user_repo, "cat /workspace/src/util.py; "
                    "echo x >> /workspace/src/util.py; rm /workspace/src/app.py", *LEVELS)
    assert "def greet" in result.stdout, result.describe()
    assert result.stderr.count("Permission denied") + result.stderr.count("Read-only") >= 2, \
        result.describe()
    assert (user_repo / "src/app.py").exists()


def test_write_is_isolated_and_shown_then_applied(as_user, user_repo):
    before = tree_digest(user_repo)
    script = ("cd /workspace/output && echo fresh > new.txt && rm stale.txt && "
              "echo more >> report.txt && cat new.txt")
    shown = run_sh(as_user, user_repo, script, *LEVELS)
    assert shown.returncode == 0 and shown.stdout == "fresh\n", shown.describe()
    for line in ("A /output/new.txt", "D /output/stale.txt", "M /output/report.txt"):
        assert line in shown.stderr, shown.describe()
    assert tree_digest(user_repo) == before, "show must leave the codebase alone"

    applied = run_sh(as_user, user_repo, script, *LEVELS, "--changes", "apply")
    assert applied.returncode == 0, applied.describe()
    assert (user_repo / "output/new.txt").read_text() == "fresh\n"
    assert not (user_repo / "output/stale.txt").exists()
    assert (user_repo / "output/new.txt").stat().st_uid == as_user.user.pw_uid

    discarded = run_sh(as_user, user_repo, "echo gone > /workspace/output/d.txt", *LEVELS,
                       "--changes", "discard")
    assert discarded.returncode == 0 and not (user_repo / "output/d.txt").exists()


# --- escapes --------------------------------------------------------------------------

def test_escapes_fail_like_the_hidden_path(as_user, user_repo, secrets):
    before = tree_digest(user_repo, exclude_top=("output",))
    script = "; ".join([
        "ln -s ../.env /workspace/output/via-symlink", "cat /workspace/output/via-symlink",
        "ln -s /workspace/.env /workspace/output/abs", "cat /workspace/output/abs",
        "ln /workspace/.env /workspace/output/hard", "ln /workspace/src/util.py /workspace/output/h2",
        "cat /proc/1/environ", "echo", "ls /proc | grep -c '^[0-9]'",
        "mount -t tmpfs none /workspace/output", "unshare -rm true && echo UNSHARED",
        "cat /etc/shadow", f"ls {user_repo}", "echo end"])
    result = run_sh(as_user, user_repo, script, "--preset", "agent-safe", "--changes", "apply")
    assert "end" in result.stdout, result.describe()
    assert_no_secret(result.output, secrets, result.describe())
    assert "UNSHARED" not in result.stdout, "a nested user namespace was allowed"
    # Only the sandbox's own processes are visible (a handful), never the host's.
    counts = [int(line) for line in result.stdout.splitlines() if line.isdigit()]
    assert counts and counts[0] < 10, result.describe()
    assert tree_digest(user_repo, exclude_top=("output",)) == before
    # The absolute symlink is refused at apply, as it is as root.
    assert "not applied (denied) /output/abs" in result.stderr, result.describe()
    for path in (user_repo / "output").rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert_no_secret(path.read_text(errors="replace"), secrets, str(path))
    assert not (user_repo / "output/hard").exists() and not (user_repo / "output/h2").exists()


# --- identity, mount, state -----------------------------------------------------------

def test_sandbox_runs_as_the_user_on_a_private_mount_under_xdg(as_user, user_repo):
    marker = f"af-rootless-{uuid.uuid4()}"
    argv = as_user.argv(["run", "--env", f"AF_MARK={marker}", *LEVELS, str(user_repo), "--",
                         "sh", "-c", "touch /workspace/output/up; sleep 60"])
    proc = subprocess.Popen(argv, env=as_user.environment(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _pids_with_env(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        sandboxed = _pids_with_env(marker)
        assert sandboxed, "the sandboxed command never started"
        for pid in sandboxed:
            status = Path(f"/proc/{pid}/status").read_text()
            uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
            gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
            assert set(uids) == {str(as_user.user.pw_uid)}, status
            assert set(gids) == {str(as_user.user.pw_gid)}, status
            assert re.search(r"^CapEff:\s+0+$", status, re.M), status
            assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status
        runs = list((as_user.runtime_dir / "agentfense").glob("run-*"))
        assert len(runs) == 1, runs
        assert stat.S_IMODE((as_user.runtime_dir / "agentfense").stat().st_mode) == 0o700
        mounts = mounts_mentioning([str(runs[0])])
        assert len(mounts) == 1, mounts
        options = mounts[0].split()[3].split(",")
        assert f"user_id={as_user.user.pw_uid}" in options, mounts
        assert "allow_other" not in options and "nosuid" in options and "nodev" in options
        # No other user reaches the view, root included (no allow_other).
        other = subprocess.run(["ls", str(runs[0] / "mnt")], capture_output=True, text=True)
        assert other.returncode != 0, other.stdout
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=60)
    assert_nothing_left_by(as_user.user, user_repo, as_user.runtime_dir, run_dirs=False)


def test_without_xdg_runtime_dir_state_is_private_under_tmp(as_user, user_repo):
    as_user.runtime_dir = None
    root = Path(f"/tmp/agentfense-{as_user.user.pw_uid}")
    result = run_sh(as_user, user_repo, "cat /workspace/README.md", *LEVELS)
    assert result.returncode == 0 and "Sample project" in result.stdout, result.describe()
    st = root.stat()
    assert st.st_uid == as_user.user.pw_uid and stat.S_IMODE(st.st_mode) == 0o700


def test_a_planted_state_dir_of_another_user_is_refused(as_user, user_repo, home):
    planted = home / "xdg" / "agentfense"
    planted.mkdir(mode=0o777)  # owned by root, not the user
    try:
        result = as_user.invoke(["run", *LEVELS, str(user_repo), "--", "true"])
        assert result.returncode != 0
        assert "not a directory owned by us" in result.stderr, result.describe()
    finally:
        planted.rmdir()


def test_explicit_limits_without_a_cgroup_fail_closed(as_user, user_repo):
    result = as_user.invoke(["run", "--pids", "50", str(user_repo), "--", "true"])
    assert result.returncode != 0 and "need a writable cgroup" in result.stderr, \
        result.describe()
    calm = as_user.invoke(["run", "--pids", "0", "--memory", "0", str(user_repo), "--", "true"])
    assert calm.returncode == 0 and "warning" not in calm.stderr, calm.describe()


def test_a_killed_run_leaves_nothing_after_the_next_run(as_user, user_repo):
    argv = as_user.argv(["run", *LEVELS, str(user_repo), "--", "sleep", "60"])
    proc = subprocess.Popen(argv, env=as_user.environment(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    root = as_user.runtime_dir / "agentfense"
    deadline = time.monotonic() + 60
    while not mounts_mentioning([str(root)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mounts_mentioning([str(root)]), "the run never mounted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # The next run sweeps the dead run's directory, unmounting it through fusermount3.
    result = run_sh(as_user, user_repo, "true", *LEVELS)
    assert result.returncode == 0, result.describe()


def test_network_needs_a_tun_device_open_to_users(as_user, user_repo):
    result = as_user.invoke(["run", "--network", "--memory", "0", "--pids", "0", *LEVELS,
                             str(user_repo), "--", "sh", "-c", "grep -c tap0 /proc/net/dev"])
    assert_nothing_left_by(as_user.user, user_repo, as_user.runtime_dir)
    if os.stat("/dev/net/tun").st_mode & 0o006 == 0o006:
        assert result.returncode == 0 and result.stdout.strip() != "0", result.describe()
    else:
        assert result.returncode != 0, result.describe()
        assert "--network without root needs /dev/net/tun open to users" in result.stderr


# --- mount and mcp --------------------------------------------------------------------

def test_mount_is_the_users_and_private_to_them(as_user, user_repo, home, secrets):
    mountpoint = home / "view"
    mountpoint.mkdir()
    os.chown(mountpoint, as_user.user.pw_uid, as_user.user.pw_gid)
    proc = subprocess.Popen(as_user.argv(["mount", *LEVELS, str(user_repo), str(mountpoint)]),
                            env=as_user.environment(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not mounts_mentioning([str(mountpoint)]) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        [line] = mounts_mentioning([str(mountpoint)])
        options = line.split()[3].split(",")
        assert f"user_id={as_user.user.pw_uid}" in options and "allow_other" not in options
        look = subprocess.run(
            as_user_argv(as_user.user.pw_uid, as_user.user.pw_gid,
                     ["sh", "-c", f"cd {mountpoint} && ls -a && cat src/util.py && "
                      "cat .env; cat docs/guide.md; grep -r SECRET . ; echo x > output/n.txt "
                      "&& cat output/n.txt"]),
            capture_output=True, text=True)
        assert "src" in look.stdout.split() and ".env" not in look.stdout.split(), look
        assert "def greet" in look.stdout and look.stdout.endswith("x\n"), look
        assert_no_secret(look.stdout + look.stderr, secrets, look.stderr)
        assert "Permission denied" in look.stderr
        # Root is another user here: without allow_other it cannot enter the view.
        assert subprocess.run(["ls", str(mountpoint)], capture_output=True).returncode != 0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert not mounts_mentioning([str(mountpoint)])
    assert not (user_repo / "output/n.txt").exists()


def test_mcp_serves_as_the_user(as_user, user_repo, secrets):
    import json
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "run", "arguments": {
             "command": "ls -a; cat .env; echo y > output/m.txt"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "session_run", "arguments": {"command": "cd src && pwd"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
         "params": {"name": "read_file", "arguments": {"path": ".env"}}},
    ]
    stdin = "".join(json.dumps(r) + "\n" for r in requests)
    proc = subprocess.run(as_user.argv(["mcp", *LEVELS, str(user_repo)]), input=stdin,
                          env=as_user.environment(), capture_output=True, text=True,
                          timeout=120)
    assert_nothing_left_by(as_user.user, user_repo, as_user.runtime_dir)
    assert_no_secret(proc.stdout + proc.stderr, secrets, proc.stderr)
    answers = {m["id"]: m for m in map(json.loads, proc.stdout.splitlines()) if "id" in m}
    run = answers[2]["result"]["structuredContent"]
    assert ".env" not in run["stdout"].split() and "src" in run["stdout"].split(), run
    assert "/workspace/src" in json.dumps(answers[3]["result"]), answers[3]
    assert answers[4]["result"]["isError"] is True
    assert "A /output/m.txt" in proc.stderr, proc.stderr


def test_a_closed_dev_fuse_is_named(as_user, user_repo):
    os.chmod("/dev/fuse", 0o600)  # a server distribution's default
    try:
        result = as_user.invoke(["run", *LEVELS, str(user_repo), "--", "true"])
    finally:
        os.chmod("/dev/fuse", 0o666)
    assert result.returncode != 0
    assert "running without root needs /dev/fuse open to users" in result.stderr, \
        result.describe()
    assert_nothing_left_by(as_user.user, user_repo, as_user.runtime_dir)


def test_files_created_read_only_stay_readable_after_leaving_the_fd_cache(as_user, user_repo):
    # git writes every object through the fd that created it with mode 0444. Without
    # root's CAP_DAC_OVERRIDE the fs process once failed to reopen such a file after its
    # fd left the cache (8,192 fds): EACCES on read, SIGBUS in `git fsck`.
    script = (
        "import os, mmap\n"
        "d = '/workspace/output/many'; os.mkdir(d)\n"
        "for i in range(8400):\n"
        "    fd = os.open(f'{d}/f{i}', os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o444)\n"
        "    os.write(fd, b'data %d\\n' % i); os.close(fd)\n"
        "print(open(f'{d}/f0').read().strip())\n"
        "fd = os.open(f'{d}/f1', os.O_RDONLY)\n"
        "print(mmap.mmap(fd, 0, prot=mmap.PROT_READ)[:6].decode())\n"
        "print(oct(os.stat(f'{d}/f2').st_mode & 0o777))\n")
    result = as_user.invoke(["run", *LEVELS, "--changes", "discard", str(user_repo), "--",
                             "python3", "-c", script])
    assert_nothing_left_by(as_user.user, user_repo, as_user.runtime_dir)
    assert result.returncode == 0, result.describe()
    assert result.stdout.split("\n")[:3] == ["data 0", "data 1", "0o444"], result.describe()


def test_an_xdg_runtime_dir_of_another_user_is_not_used(as_user, user_repo, home):
    # su/sudo can carry over another user's XDG_RUNTIME_DIR: the run must not put its
    # state there (here it could not anyway), but in its own /tmp/agentfense-UID.
    foreign = home / "root-xdg"
    foreign.mkdir()
    os.chmod(foreign, 0o777)  # writable by anyone, yet root's: not the user's
    as_user.runtime_dir = foreign
    result = run_sh(as_user, user_repo, "cat /workspace/README.md", *LEVELS)
    assert result.returncode == 0, result.describe()
    assert not (foreign / "agentfense").exists()
    assert Path(f"/tmp/agentfense-{as_user.user.pw_uid}").stat().st_uid == as_user.user.pw_uid


def test_an_existing_file_in_a_read_only_directory_stays_writable(as_user, user_repo):
    # Natively, a file of yours in a directory of mode 0555 can be written but no name can
    # be added. Copy-up once failed there rootless (EIO): the fs process, without root's
    # CAP_DAC_OVERRIDE, could not create the copy in its own 0555 upper directory.
    ro = user_repo / "output" / "ro"
    (ro / "sub").mkdir(parents=True)
    (ro / "f").write_text("a\n")
    (ro / "sub" / "g").write_text("b\n")
    subprocess.run(["chown", "-R", f"{as_user.user.pw_uid}:{as_user.user.pw_gid}", str(ro)],
                   check=True)
    os.chmod(ro, 0o555)
    result = run_sh(as_user, user_repo,
                    "cd /workspace/output/ro && echo y >> f && echo z >> sub/g && cat f sub/g "
                    "&& stat -c %a . && touch new", *LEVELS)
    assert result.stdout.split() == ["a", "y", "b", "z", "555"], result.describe()
    assert "cannot touch" in result.stderr and result.returncode != 0, result.describe()
    assert "M /output/ro/f" in result.stderr and "M /output/ro/sub/g" in result.stderr


def test_more_directories_than_open_files_rootless(as_user, user_repo):
    # The fs reopens evicted directory fds beneath its layer roots (openat2), which needs
    # no privilege: the same as test_many_dirs.py, with the fs running as the user.
    from test_many_dirs import check_many_directories
    check_many_directories(as_user, user_repo)
