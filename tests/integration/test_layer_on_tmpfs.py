"""`agentfense run` as root on a host whose /run is a tmpfs (most systemd hosts). The
test gives the run a tmpfs /run/agentfense in a private mount namespace, keeping the
host's id leases.

- The write layer must not live there: a layer in /run holds the agent's writes in the
  host's memory, up to the disk quota (10G by default), and can fill the /run every
  service on the host needs. It is on disk (/var/lib/agentfense/cli-layers).
- Where the layer is on another filesystem than the codebase (a separate /home or
  /var, and the layer on the tmpfs before), copy-up copies the bytes itself:
  copy_file_range fails with EXDEV across filesystems, and every append to an existing
  file used to fail with "I/O error". The tests put the layer root on a tmpfs too."""

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
keep=$KEEP_DIR  # the test's own temp dir: nothing is left in /tmp
mkdir -p /run/agentfense/ids
mount --bind /run/agentfense/ids "$keep"
mount -t tmpfs -o mode=0700,size=2m tmpfs /run/agentfense
mkdir /run/agentfense/ids
mount --bind "$keep" /run/agentfense/ids
if [ "$LAYERS_ON_TMPFS" = 1 ]; then
  mkdir -p /var/lib/agentfense/cli-layers
  mount -t tmpfs -o mode=0700 tmpfs /var/lib/agentfense/cli-layers
fi
stat -f -c %T /run/agentfense
exec "$@"
"""


def run_on_tmpfs_run(repo: Path, changes: str, command: str,
                     layers_on_tmpfs: bool = False) -> subprocess.CompletedProcess:
    keep = repo.parent / "ids-keep"
    keep.mkdir(exist_ok=True)
    argv = [agentfense_bin(), "run", "--preset", "full-access", "--changes", changes,
            str(repo), "--", "sh", "-c", command]
    env = {**os.environ, "LAYERS_ON_TMPFS": "1" if layers_on_tmpfs else "0",
           "KEEP_DIR": str(keep)}
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", TMPFS_RUN,
                           "sh", *argv], capture_output=True, text=True, timeout=120, env=env)


def test_appending_to_a_file_works_with_the_write_layer_on_another_filesystem(repo):
    before = (repo / "README.md").read_text()
    out = run_on_tmpfs_run(repo, "discard", "echo appended >> README.md && cat README.md && "
                           "chmod 600 docs/api.md && cat docs/api.md", layers_on_tmpfs=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "tmpfs\n" + before + "appended\n# API\n"
    assert (repo / "README.md").read_text() == before  # discarded


def test_an_applied_append_reaches_the_codebase(repo):
    before = (repo / "src/util.py").read_text()
    out = run_on_tmpfs_run(repo, "apply", "echo '# more' >> src/util.py", layers_on_tmpfs=True)
    assert out.returncode == 0, out.stderr
    assert (repo / "src/util.py").read_text() == before + "# more\n"
    assert "/src/util.py" in out.stderr  # the change review named it


def test_a_root_runs_write_layer_is_not_in_the_run_tmpfs(repo):
    # 8 MB into a 2 MB /run/agentfense: only a layer elsewhere can take it.
    out = run_on_tmpfs_run(repo, "discard", "dd if=/dev/zero of=output/big bs=1M count=8 "
                           "2>/dev/null && wc -c < output/big")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "tmpfs\n8388608\n"
