"""A codebase on a case-insensitive file system (ext4/f2fs/tmpfs casefold directories,
vfat, exfat, ntfs3, SMB/CIFS, WSL's /mnt/c): the host finds `.env` when asked for `.ENV`,
while the rules judge the name asked for. A name is served only as the directory stores
it, byte for byte, and a commit never writes through another spelling over (or into) an
entry the sandbox did not see (layer/stored_names.h).

The test host has no such file system to mount: casefold_fuse.c, a small case-insensitive
FUSE passthrough built here (gcc and libfuse3-dev; CI installs them), stands in for one.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness import Runner, assert_no_secret

HELPER = Path(__file__).with_name("casefold_fuse.c")


@pytest.fixture(scope="session")
def casefold_fuse(tmp_path_factory) -> Path:
    if not shutil.which("gcc") or not shutil.which("pkg-config"):
        pytest.skip("needs gcc and pkg-config to build casefold_fuse.c")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True,
                           text=True)
    if flags.returncode != 0:
        pytest.skip("needs libfuse3-dev to build casefold_fuse.c")
    binary = tmp_path_factory.mktemp("casefold") / "casefold_fuse"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(HELPER), *flags.stdout.split()],
                   check=True)
    return binary


@pytest.fixture
def folded_repo(casefold_fuse: Path, repo: Path, tmp_path: Path, secrets: dict[str, str]):
    """The sample repository (plus hidden entries under the writable /output), mounted
    case-insensitively. Yields (mount point, host directory behind it)."""
    (repo / "output" / ".env").write_text(f"output_env={secrets['dotenv']}\n")
    (repo / "output" / "secrets").mkdir()
    (repo / "output" / "secrets" / "token.txt").write_text(f"token={secrets['secrets_dir']}\n")
    subprocess.run(["chmod", "-R", "a+rX", str(repo)], check=True)
    mount = tmp_path / "folded"
    mount.mkdir()
    # No kernel caching of names: after a commit removes `report.txt`, a cached `REPORT.txt`
    # would still find it (a real casefold directory drops both).
    subprocess.run([str(casefold_fuse), str(repo), str(mount), "-o",
                    "allow_other,entry_timeout=0,negative_timeout=0,attr_timeout=0"], check=True)
    try:
        deadline = time.monotonic() + 10
        while not (mount / "README.md").exists():
            assert time.monotonic() < deadline, "casefold_fuse did not come up"
            time.sleep(0.05)
        assert (mount / "readme.MD").read_text() == (repo / "README.md").read_text()
        yield mount, repo
    finally:
        subprocess.run(["fusermount3", "-u", str(mount)], check=False)


def run_agent_safe(runner: Runner, mount: Path, script: str, changes: str):
    # The casefold mount itself names the codebase: it is no leftover of the run.
    return runner.sh(mount, script, ["--preset", "agent-safe", "--changes", changes],
                     check_leftovers=False)


def test_a_hidden_file_is_not_found_under_another_letter_case(runner, folded_repo, secrets):
    mount, _ = folded_repo
    probes = [".ENV", ".Env", "CONFIG/SECRETS/DB.TXT", "config/Secrets/db.txt", "KEYS/server.key",
              "keys/SERVER.KEY", "Deploy.PEM", "CREDENTIALS.JSON", "output/.ENV",
              "output/SECRETS/token.txt", "output/Secrets"]
    script = "".join(f"cat /workspace/{p} || echo 'absent {p}'; " for p in probes)
    result = run_agent_safe(runner, mount, script + "ls -a /workspace /workspace/output", "discard")
    assert_no_secret(result.output, secrets, result.describe())
    for probe in probes:
        assert f"absent {probe}" in result.stdout, result.describe()
    # Visible files are served under their stored names (only those).
    assert "README.md" in result.stdout and ".env" not in result.stdout


def test_a_visible_file_is_served_only_under_its_stored_name(runner, folded_repo):
    mount, repo = folded_repo
    result = run_agent_safe(runner, mount, "cat /workspace/README.md; "
                            "cat /workspace/readme.md || echo absent", "discard")
    assert result.stdout == (repo / "README.md").read_text() + "absent\n", result.describe()


def test_a_write_under_another_case_never_replaces_the_base_entry(runner, folded_repo, secrets):
    mount, repo = folded_repo
    hidden = (repo / "output" / ".env").read_text()
    report = (repo / "output" / "report.txt").read_text()
    result = run_agent_safe(runner, mount, "echo attacker > /workspace/output/.ENV && "
                            "echo attacker > /workspace/output/REPORT.TXT", "apply")
    assert_no_secret(result.output, secrets, result.describe())
    # Listed as new (never as a change of the hidden file, whose diff would show it), and
    # refused as a conflict: on this file system the name is the other entry's.
    assert "A /output/.ENV" in result.stderr, result.describe()
    for name in (".ENV", "REPORT.TXT"):
        assert f"not applied (conflict) /output/{name}" in result.stderr, result.describe()
    assert (repo / "output" / ".env").read_text() == hidden
    assert (repo / "output" / "report.txt").read_text() == report
    assert sorted(p.name for p in (repo / "output").iterdir()) == [
        ".env", "report.txt", "secrets", "stale.txt"]


def test_a_directory_under_another_case_is_not_written_into(runner, folded_repo, secrets):
    mount, repo = folded_repo
    result = run_agent_safe(runner, mount, "mkdir /workspace/output/SECRETS && "
                            "echo planted > /workspace/output/SECRETS/new.txt", "apply")
    assert_no_secret(result.output, secrets, result.describe())
    assert "not applied (conflict) /output/SECRETS" in result.stderr, result.describe()
    assert "not applied (conflict) /output/SECRETS/new.txt" in result.stderr, result.describe()
    assert sorted(p.name for p in (repo / "output" / "secrets").iterdir()) == ["token.txt"]


def test_a_rename_that_changes_only_the_letter_case_commits(runner, folded_repo):
    mount, repo = folded_repo
    report = (repo / "output" / "report.txt").read_text()
    result = run_agent_safe(runner, mount, "mv /workspace/output/report.txt "
                            "/workspace/output/REPORT.txt", "apply")
    # The new name sorts first: it waits for the old one's deletion instead of being
    # refused (and the file lost with the discarded layer).
    assert "not applied" not in result.stderr, result.describe()
    assert sorted(p.name for p in (repo / "output").iterdir()) == [
        ".env", "REPORT.txt", "secrets", "stale.txt"]
    assert (repo / "output" / "REPORT.txt").read_text() == report
