"""The codebase store and the database hold every tenant's files (hidden ones too: a
`.env` is kept only from sandboxes, by the fs) and every tenant's metadata. With
`storage.codebase_path` and `storage.db_path` set outside the data dir, as the config
allows, the store was created 0755 with 0644 files and the database 0644: any user of
the host could read a hidden `.env` and the database. Only root processes need them."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import make_codebase
from server_harness import serving

NOBODY = 65534


@pytest.fixture(scope="module")
def storage():
    """A directory any host user may traverse, like /srv or /var/lib on most hosts."""
    root = Path(tempfile.mkdtemp(prefix="af-storage-"))
    os.chmod(root, 0o755)
    for parent in root.parents:  # the harness may sit under a private temp dir
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            pytest.skip(f"{parent} is not reachable for other users here")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server(storage):
    yield from serving("af-storage-data-", config=(
        f"storage:\n  codebase_path: {storage}/codebases\n  db_path: {storage}/meta.db\n"))


def readable_by_nobody(path: Path) -> bool:
    probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                            "head", "-c", "1", str(path)], capture_output=True)
    return probe.returncode == 0


def test_another_host_user_reads_neither_the_store_nor_the_database(server, storage):
    codebase_id = make_codebase(server, files={".env": b"API_TOKEN=hunter2\n", "a.txt": b"1\n"})
    secret = storage / "codebases" / codebase_id / ".env"
    assert secret.read_bytes() == b"API_TOKEN=hunter2\n"  # the test reads what it means to
    assert not readable_by_nobody(secret)
    assert not readable_by_nobody(storage / "meta.db")
    assert stat.S_IMODE(os.stat(storage / "codebases").st_mode) == 0o700
    for name in ("meta.db", "meta.db-wal", "meta.db-shm"):
        if (storage / name).exists():
            assert stat.S_IMODE(os.stat(storage / name).st_mode) == 0o600, name


def test_a_store_left_open_by_an_older_server_is_closed_at_start(storage):
    """Upgrades: a store and database an earlier version left readable are narrowed."""
    (storage / "old").mkdir()
    (storage / "old" / "codebases").mkdir(mode=0o755)
    (storage / "old" / "meta.db").touch(mode=0o644)
    os.chmod(storage / "old" / "meta.db", 0o644)
    for _ in serving("af-storage-old-", config=(
            f"storage:\n  codebase_path: {storage}/old/codebases\n"
            f"  db_path: {storage}/old/meta.db\n")):
        assert stat.S_IMODE(os.stat(storage / "old" / "codebases").st_mode) == 0o700
        assert stat.S_IMODE(os.stat(storage / "old" / "meta.db").st_mode) == 0o600
