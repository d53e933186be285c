"""Fixtures for the integration and escape suites: a sample repository with planted
secrets, and a runner for the real `agentfense` binary (never skipped: a missing binary
is a failure, not a silent pass)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from harness import Result, Runner, UserRunner, agentfense_bin, assert_no_secret, tree_digest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docker"))
from dockerd import TEST_IMAGE, start_with_images  # noqa: E402

# Hidden under agent-safe: (relative path, secret key). Each gets its own secret so a
# leak names the exact file it came from.
HIDDEN_FILES = {
    ".env": "dotenv",
    ".env.production": "dotenv_production",
    "src/.env": "nested_dotenv",
    "config/secrets/db.txt": "secrets_dir",
    "deploy.pem": "pem",
    "keys/server.key": "key",
    "credentials.json": "credentials",
}

VISIBLE_FILES = {
    "README.md": "# Sample project\n\nTODO: write docs\n",
    "src/app.py": "import util\n\n\ndef main():\n    print(util.greet('world'))\n",
    "src/util.py": "def greet(name):\n    return f'hello {name}'\n",
    "src/lib/helpers.py": "# TODO: helpers\n",
    "docs/guide.md": "# Guide\n\nRead me.\n",
    "docs/api.md": "# API\n",
    "config/settings.yaml": "debug: false\n",
    "output/report.txt": "old report\n",
    "output/stale.txt": "delete me\n",
}


@pytest.fixture(scope="session")
def agentfense() -> str:
    path = agentfense_bin()
    assert os.path.isfile(path) and os.access(path, os.X_OK), (
        f"agentfense binary not found at {path}: build it (scripts/build.sh) or set "
        "AGENTFENSE_BIN")
    return path


@pytest.fixture(scope="session")
def secrets() -> dict[str, str]:
    """One unique secret per hidden file, per git artefact and for the host environment,
    generated once per test session."""
    keys = list(HIDDEN_FILES.values()) + ["git_config", "git_commit", "host_env"]
    return {key: f"SECRET{key.upper()}{uuid.uuid4().hex}" for key in keys}


@pytest.fixture(scope="session")
def dockerd():
    """A private dockerd with the test image (tests/docker), started on first use."""
    daemon = start_with_images()
    yield daemon
    daemon.stop()


@pytest.fixture
def runtime() -> str:
    """Where `runner` runs commands: bwrap, or each of a module's RUNTIMES."""
    return "bwrap"


def pytest_generate_tests(metafunc):
    # A module that lists RUNTIMES = ("bwrap", "docker") runs its tests on both: the
    # levels table and the escape suite hold inside a container exactly as under bwrap.
    runtimes = getattr(metafunc.module, "RUNTIMES", None)
    if runtimes and "runtime" in metafunc.fixturenames:
        metafunc.parametrize("runtime", runtimes)


# AF_TEST_AS_USER=NAME runs every `runner` command as that existing unprivileged user
# (rootless, docs/rootless.md; /dev/fuse must be 0666), with the sample repository owned
# by them: the level and escape suites then check the same invariants rootless.
AS_USER = os.environ.get("AF_TEST_AS_USER")


@pytest.fixture(scope="session")
def user_runtime_dir(tmp_path_factory):
    entry = pwd.getpwnam(AS_USER)
    path = tmp_path_factory.mktemp("xdg")
    os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, 0o700)
    return path


@pytest.fixture
def runner(agentfense: str, secrets: dict[str, str], runtime: str, request) -> Runner:
    if AS_USER:
        return UserRunner(secrets["host_env"], pwd.getpwnam(AS_USER),
                          request.getfixturevalue("user_runtime_dir"))
    options: list[str] = []
    if runtime == "docker":
        daemon = request.getfixturevalue("dockerd")
        options = ["--runtime", "docker", "--image", TEST_IMAGE, "--docker-host", daemon.host]
    return Runner(host_env_secret=secrets["host_env"], runtime_options=options)


def _git(repo: Path, *args: str) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(repo.parent), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def repo(tmp_path: Path, secrets: dict[str, str]) -> Path:
    """A small codebase: visible sources/docs/config, an output/ dir, hidden secret files
    at several depths and a real git repository whose config and history hold secrets."""
    root = tmp_path / "repo"
    for rel, text in VISIBLE_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, key in HIDDEN_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{key}={secrets[key]}\n")
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "dev@example.com")
    _git(root, "config", "user.name", "Dev")
    _git(root, "config", "secret.token", secrets["git_config"])
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", f"initial import {secrets['git_commit']}")
    # The tree is world-readable like a normal checkout: only the sandbox may stop the
    # agent, not file modes.
    subprocess.run(["chmod", "-R", "a+rX", str(tmp_path)], check=True)
    if AS_USER:
        # Their own checkout, reachable through pytest's root-only base directory.
        entry = pwd.getpwnam(AS_USER)
        subprocess.run(["chown", "-R", f"{entry.pw_uid}:{entry.pw_gid}", str(root)], check=True)
        for parent in tmp_path.parents:
            if parent == Path("/tmp"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o001)
    return root


@pytest.fixture
def host_root_secret(secrets: dict[str, str]):
    """A file in the host's /root holding a fresh secret; removed afterwards."""
    path = Path("/root") / f".agentfense-escape-{uuid.uuid4().hex}"
    value = f"SECRETHOSTROOT{uuid.uuid4().hex}"
    path.write_text(value + "\n")
    try:
        yield path, value
    finally:
        path.unlink()


@pytest.fixture
def attack(runner: Runner, repo: Path, secrets: dict[str, str]):
    """Runs an attack script under agent-safe with --changes apply (the strongest mode: the
    sandbox's writes really land on the host), then checks the escape-suite invariants:
    no secret in any output, nothing outside the writable /output changed on the host,
    and no secret smuggled into /output on the host."""

    def run_attack(script: str | list[str], options: list[str] = (),
                   changes: str = "apply") -> Result:
        """`script` is a shell script, or an argv run without a shell."""
        before = tree_digest(repo, exclude_top=("output",))
        command = ["sh", "-c", script] if isinstance(script, str) else script
        result = runner.run(repo, command, ["--preset", "agent-safe", "--changes", changes,
                                            *options])
        assert_no_secret(result.output, secrets, result.describe())
        assert tree_digest(repo, exclude_top=("output",)) == before, (
            "host files outside /output changed\n" + result.describe())
        for path in (repo / "output").rglob("*"):
            assert_no_secret(path.name, secrets, f"name of {path}")
            if path.is_file() and not path.is_symlink():
                assert_no_secret(path.read_text(errors="replace"), secrets, str(path))
        return result

    return run_attack
