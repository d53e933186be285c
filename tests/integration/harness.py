"""Drives the real `agentfense` binary for the integration and escape suites.

Every run goes through `Runner.run`, which also checks the two things every sandbox run
must leave behind: nothing. No process of the run may survive it and no mount of the run
may remain in the host's mount table.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BIN = "/work/main/build/agentfense"
# Generous: the first run after a build can be slow on 2 cores under ASan.
RUN_TIMEOUT_SECONDS = 180


def agentfense_bin() -> str:
    return os.environ.get("AGENTFENSE_BIN", DEFAULT_BIN)


@dataclass
class Result:
    argv: list[str]
    pid: int
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (f"argv={self.argv}\nexit={self.returncode}\n"
                f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}")


def wait_for(predicate, seconds: float) -> bool:
    """Polls `predicate` every 50 ms until it holds (True) or `seconds` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def tree_digest(root: Path, exclude_top: tuple[str, ...] = ()) -> dict[str, str]:
    """Maps every path under root to a digest of its type, mode, owner and content.

    Symlinks are recorded by target and never followed, so the digest itself cannot be
    tricked into reading outside the tree.
    """
    digest: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in exclude_top]
            filenames = [f for f in filenames if f not in exclude_top]
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.lstat(path)
            meta = f"{stat.S_IFMT(st.st_mode):o}:{stat.S_IMODE(st.st_mode):o}:{st.st_uid}:{st.st_gid}"
            if stat.S_ISLNK(st.st_mode):
                meta += ":" + os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                meta += ":" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
            digest[rel] = meta
    return digest


def processes_mentioning(needles: list[str]) -> list[str]:
    """Host processes whose command line or environment contains any needle."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            try:
                text = Path(f"/proc/{entry}/{part}").read_bytes().decode(errors="replace")
            except OSError:  # the process exited while we looked, or is a kernel thread
                continue
            if any(needle in text for needle in needles):
                found.append(f"pid {entry}: {text.replace(chr(0), ' ')[:300]}")
                break
    return found


def mounts_mentioning(needles: list[str]) -> list[str]:
    lines = Path("/proc/mounts").read_text().splitlines()
    return [line for line in lines if any(needle in line for needle in needles)]


class Runner:
    """Runs agentfense with a secret in its own environment that must never leak."""

    def __init__(self, host_env_secret: str, runtime_options: list[str] = ()):
        self.host_env_secret = host_env_secret
        self.binary = agentfense_bin()
        # `run`'s runtime flags: none for bwrap, --runtime docker --image ... for docker.
        self.runtime_options = list(runtime_options)

    def invoke(self, args: list[str], timeout: float = RUN_TIMEOUT_SECONDS,
               extra_env: dict[str, str] | None = None) -> Result:
        """Runs `agentfense ARGS` and returns its exit status and separate outputs."""
        env = self.environment()
        env.update(extra_env or {})
        argv = self.argv(args)
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
            raise AssertionError(f"agentfense hung for {timeout}s: {argv}\n{err.decode()[-2000:]}")
        return Result(argv, proc.pid, proc.returncode, out.decode(errors="replace"),
                      err.decode(errors="replace"), time.monotonic() - start)

    def environment(self) -> dict[str, str]:
        return {**os.environ, "AF_HOST_SECRET": self.host_env_secret}

    def argv(self, args: list[str]) -> list[str]:
        return [self.binary, *args]

    def run(self, repo: Path, command: list[str], options: list[str] = (),
            timeout: float = RUN_TIMEOUT_SECONDS, check_leftovers: bool = True) -> Result:
        """`agentfense run OPTIONS REPO -- COMMAND`, then asserts nothing of it survives."""
        marker = f"af-run-{uuid.uuid4()}"
        args = ["run", "--env", f"AF_RUN_MARKER={marker}", *self.runtime_options, *options,
                str(repo), "--", *command]
        result = self.invoke(args, timeout=timeout)
        if check_leftovers:
            assert_nothing_left(marker, repo, result.pid)
        return result

    def sh(self, repo: Path, script: str, options: list[str] = (), **kwargs) -> Result:
        return self.run(repo, ["sh", "-c", script], options, **kwargs)


def assert_nothing_left(marker: str, repo: Path, pid: int, grace_seconds: float = 5.0) -> None:
    """No process and no mount of a finished run may remain (after a short grace period:
    the kernel reaps asynchronously). Run directories are named after agentfense's pid."""
    needles = [marker, str(repo)]
    deadline = time.monotonic() + grace_seconds
    while True:
        procs = processes_mentioning(needles)
        mounts = mounts_mentioning([str(repo), f"/run-{pid}-"])
        if not procs and not mounts:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"leftovers after run:\n" + "\n".join(procs + mounts))
        time.sleep(0.1)


def assert_no_secret(text: str, secrets: dict[str, str], context: str = "") -> None:
    for name, secret in secrets.items():
        assert secret not in text, f"secret {name!r} leaked: {context}\n{text[-3000:]}"


class UserRunner(Runner):
    """A Runner whose agentfense runs as an unprivileged user (uid/gid of `user`, a pwd
    entry), with that user's minimal environment and `runtime_dir` as XDG_RUNTIME_DIR
    (None: unset). For the rootless suite (test_rootless.py)."""

    def __init__(self, host_env_secret: str, user, runtime_dir: Path | None):
        super().__init__(host_env_secret)
        self.user = user
        self.runtime_dir = runtime_dir

    def environment(self) -> dict[str, str]:
        env = {"PATH": "/usr/bin:/bin", "HOME": self.user.pw_dir, "USER": self.user.pw_name,
               "AF_HOST_SECRET": self.host_env_secret}
        if self.runtime_dir is not None:
            env["XDG_RUNTIME_DIR"] = str(self.runtime_dir)
        return env

    def argv(self, args: list[str]) -> list[str]:
        return as_user(self.user.pw_uid, self.user.pw_gid, [self.binary, *args])


def as_user(uid: int, gid: int, argv: list[str]) -> list[str]:
    """argv run with the given real/effective ids and no supplementary groups."""
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *argv]
