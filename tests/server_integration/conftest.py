"""Fixtures: one shared server per test module, a sample codebase with planted secrets,
and running sandboxes over it. Never skipped: a missing binary is a failure."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from server_harness import AGENT_SAFE, Server, agentfense_bin, cb, common, sb, serving, upload

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docker"))
from dockerd import NO_BASH_IMAGE, TEST_IMAGE, start_with_images  # noqa: E402

SECRET = f"SECRET{uuid.uuid4().hex}"
SAMPLE_FILES = {
    "README.md": b"# Sample\n\nTODO: docs\n",
    "src/app.py": b"print('hello')\n",
    "docs/api.md": b"# API\n",
    "output/report.txt": b"old report\n",
    ".env": f"TOKEN={SECRET}\n".encode(),
    "config/secrets/db.txt": f"password={SECRET}\n".encode(),
    "deploy.pem": f"{SECRET}\n".encode(),
}


@pytest.fixture(scope="session", autouse=True)
def binary_exists() -> None:
    path = agentfense_bin()
    assert os.access(path, os.X_OK), f"{path} missing: build first (scripts/build.sh)"


@pytest.fixture(scope="module")
def import_root():
    root = tempfile.mkdtemp(prefix="af-import-root-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd():
    """One private dockerd for the suite, with the test images imported (tests/docker)."""
    daemon = start_with_images()
    yield daemon
    daemon.stop()


def docker_config(dockerd) -> str:
    """The runtime.docker block pointing a server at the test dockerd."""
    return (f"  docker:\n    host: {dockerd.host}\n    default_image: {TEST_IMAGE}\n")


@pytest.fixture
def runtime() -> str:
    """The runtime of `sandbox` and `runtime_kw`: bwrap, or each of a module's RUNTIMES."""
    return "bwrap"


def pytest_generate_tests(metafunc):
    # A module that lists RUNTIMES = ("bwrap", "docker") runs its tests on both.
    runtimes = getattr(metafunc.module, "RUNTIMES", None)
    if runtimes and "runtime" in metafunc.fixturenames:
        metafunc.parametrize("runtime", runtimes)


def runtime_kw(runtime: str) -> dict:
    """CreateSandboxRequest fields selecting `runtime`."""
    if runtime == "docker":
        return {"runtime": common.RUNTIME_TYPE_DOCKER, "image": TEST_IMAGE}
    return {}


@pytest.fixture(scope="module")
def server(import_root, dockerd):
    yield from serving("af-server-", config=(
        "runtime:\n  output_limit: 1MiB\n  max_timeout: 10m\n" + docker_config(dockerd) +
        f"storage:\n  import_roots: [{import_root}]\n"
        "sandbox:\n  cleanup_interval: 1s\n"))


def make_codebase(server: Server, files: dict[str, bytes] | None = None, owner: str = "") -> str:
    codebase = server.codebases.CreateCodebase(cb.CreateCodebaseRequest(
        name="sample", owner_id=owner or f"owner-{uuid.uuid4().hex[:8]}"))
    for path, data in (files if files is not None else SAMPLE_FILES).items():
        upload(server, codebase.id, path, data)
    return codebase.id


@pytest.fixture
def codebase(server) -> str:
    return make_codebase(server)


def make_sandbox(server: Server, codebase_id: str, rules=None, start: bool = True, **kw) -> str:
    sandbox = server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
        codebase_id=codebase_id, permissions=rules if rules is not None else AGENT_SAFE, **kw))
    if start:
        server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox.id))
    return sandbox.id


@pytest.fixture
def sandbox(server, codebase, runtime):
    sandbox_id = make_sandbox(server, codebase, **runtime_kw(runtime))
    yield sandbox_id
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def run(server: Server, sandbox_id: str, command: str, **kw):
    return server.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox_id, command=command, **kw))


def download(server: Server, codebase_id: str, path: str) -> bytes:
    return b"".join(c.data for c in server.codebases.DownloadFile(
        cb.DownloadFileRequest(codebase_id=codebase_id, file_path=path)))
