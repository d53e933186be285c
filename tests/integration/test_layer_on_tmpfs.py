"""`agentfense run` on a host whose /run is a tmpfs (most systemd hosts): the write layer
(/run/agentfense/run-*) is then on another filesystem than the codebase, and copy-up
must copy the bytes itself (copy_file_range fails with EXDEV across filesystems). Every
append to an existing file used to fail with "I/O error". The test gives the run a
tmpfs /run/agentfense in a private mount namespace, keeping the host's id leases."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness import agentfense_bin

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a mount namespace")

# The host-id leases (/run/agentfense/ids) stay visible inside, so the run takes no ids
# another sandbox on this host holds.
TMPFS_RUN = """
set -e
keep=$(mktemp -d /tmp/agentfense-ids.XXXXXX)
mkdir -p /run/agentfense/ids
mount --bind /run/agentfense/ids "$keep"
mount -t tmpfs -o mode=0700 tmpfs /run/agentfense
mkdir /run/agentfense/ids
mount --bind "$keep" /run/agentfense/ids
stat -f -c %T /run/agentfense
exec "$@"
"""


def run_on_tmpfs_run(repo: Path, changes: str, command: str) -> subprocess.CompletedProcess:
    argv = [agentfense_bin(), "run", "--preset", "full-access", "--changes", changes,
            str(repo), "--", "sh", "-c", command]
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", TMPFS_RUN,
                           "sh", *argv], capture_output=True, text=True, timeout=120)


def test_appending_to_a_file_works_with_the_write_layer_on_a_tmpfs(repo):
    before = (repo / "README.md").read_text()
    out = run_on_tmpfs_run(repo, "discard", "echo appended >> README.md && cat README.md && "
                           "chmod 600 docs/api.md && cat docs/api.md")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("tmpfs\n"), out.stdout  # the layer really was on a tmpfs
    assert out.stdout == "tmpfs\n" + before + "appended\n# API\n"
    assert (repo / "README.md").read_text() == before  # discarded


def test_an_applied_append_reaches_the_codebase(repo):
    before = (repo / "src/util.py").read_text()
    out = run_on_tmpfs_run(repo, "apply", "echo '# more' >> src/util.py")
    assert out.returncode == 0, out.stderr
    assert (repo / "src/util.py").read_text() == before + "# more\n"
    assert "/src/util.py" in out.stderr  # the change review named it
