"""A real, private dockerd for the Docker runtime tests: its own data root, exec root and
unix socket under a temp dir, no bridge and no iptables (sandboxes have no network by
default), started and stopped by the test session. No registry is reachable, so the
test image is imported from a root filesystem made of this machine's files (rootfs.py).

Both end-to-end suites use it (tests/integration and tests/server_integration), each
with a daemon of its own, so they can run side by side."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

from rootfs import build_rootfs_tar

TEST_IMAGE = "agentfense-test:latest"
NO_BASH_IMAGE = "agentfense-test-nobash:latest"
START_TIMEOUT = 60


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60):
        super().__init__("docker", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class Dockerd:
    def __init__(self) -> None:
        # Short: containerd's sockets live below it and unix socket paths are limited.
        self.root = Path(tempfile.mkdtemp(prefix="afd-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.root / "dockerd.log"
        # containerd namespaces are alphanumeric words joined by single [._-]: not the temp
        # dir's name, whose random part may hold "_" next to "-" or at its end.
        self.namespace = f"aftest{uuid.uuid4().hex[:12]}"

    def start(self) -> "Dockerd":
        log = open(self.log_path, "ab")
        # dockerd finds containerd, runc and docker-init on its PATH.
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        self.proc = subprocess.Popen(
            ["/usr/sbin/dockerd", "--data-root", str(self.root / "data"), "--exec-root",
             str(self.root / "exec"), "-H", self.host, "--pidfile", str(self.root / "pid"),
             "--iptables=false", "--ip-masq=false", "--bridge=none", "--log-level=warn",
             # A system containerd, if one runs, is shared: keep to namespaces of our own.
             "--containerd-namespace", self.namespace,
             "--containerd-plugins-namespace", self.namespace + "-plugins"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dockerd exited: {self.read_log()}")
            try:
                if self.request("GET", "/_ping")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"dockerd did not answer in {START_TIMEOUT}s: {self.read_log()}")

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def request(self, method: str, path: str, body: bytes | None = None,
                timeout: float = 60) -> tuple[int, bytes]:
        conn = _UnixHTTPConnection(str(self.socket), timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body=None):
        status, data = self.request(method, path, None if body is None else json.dumps(body).encode())
        assert status < 400, f"{method} {path}: {status} {data[:500]!r}"
        return json.loads(data) if data else None

    def import_image(self, tag: str, with_bash: bool = True, rootfs: bytes | None = None,
                     changes: tuple[str, ...] = ()) -> None:
        """Imports `rootfs` (default: the test image's) as `tag`, with Dockerfile
        instructions such as "VOLUME /data" applied (`changes`)."""
        repo, _, version = tag.partition(":")
        query = urllib.parse.urlencode([("fromSrc", "-"), ("repo", repo),
                                        ("tag", version or "latest")] +
                                       [("changes", change) for change in changes])
        if rootfs is None:
            rootfs = build_rootfs_tar(with_bash=with_bash)
        status, data = self.request("POST", f"/images/create?{query}", rootfs, timeout=300)
        assert status == 200 and b'"error' not in data, f"import {tag}: {status} {data[-500:]!r}"

    def containers(self, label: str = "io.agentfense.instance") -> list[dict]:
        query = urllib.parse.urlencode({"all": "1", "filters": json.dumps({"label": [label]})})
        return self.json("GET", f"/containers/json?{query}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            for container in self.containers(label="io.agentfense.sandbox"):
                self.request("DELETE", f"/containers/{container['Id']}?force=1")
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        # Overlay and netns mounts the daemon left under its roots.
        for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            target = line.split()[1]
            if target.startswith(str(self.root)):
                subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_with_images() -> Dockerd:
    daemon = Dockerd().start()
    try:
        daemon.import_image(TEST_IMAGE)
        daemon.import_image(NO_BASH_IMAGE, with_bash=False)
    except BaseException:
        daemon.stop()
        raise
    return daemon
