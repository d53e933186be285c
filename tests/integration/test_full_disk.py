"""A full disk under the write layer: the agent sees ENOSPC, the fs lives on, and the
journal and the host agree afterwards (issue 15 item 1).

The write layer's state directory sits on a 4 MiB tmpfs with the quota off, so the real
disk fills. The journal append used to throw from inside a FUSE handler after the host
had changed: the fs process died, and a base file deleted just before came back.
"""

import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from harness import agentfense_bin


class Mount:
    def __init__(self, repo: Path, point: Path, state: Path):
        self.point = point
        point.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [agentfense_bin(), "mount", "--preset", "full-access", "--disk", "0",
             "--state-dir", str(state), str(repo), str(point)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while not os.path.ismount(point):
            assert self.proc.poll() is None, self.proc.stdout.read()
            assert time.monotonic() < deadline, "mount did not come up"
            time.sleep(0.05)

    def stop(self) -> str:
        self.proc.terminate()
        output, _ = self.proc.communicate(timeout=30)
        if os.path.ismount(self.point):  # the fs process died and left its mount
            subprocess.run(["fusermount3", "-u", "-z", str(self.point)], check=False)
            raise AssertionError(f"the fs process died:\n{output}")
        return output


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(disk)],
                   check=True)
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)


def expect_enospc(action) -> None:
    with pytest.raises(OSError) as failure:
        action()
    assert failure.value.errno == errno.ENOSPC, failure.value


def test_full_disk_answers_enospc_and_the_layer_stays_consistent(tmp_path, small_disk):
    repo = tmp_path / "repo"
    (repo / "keep").mkdir(parents=True)
    (repo / "gone.txt").write_text("deleted while the disk is full\n")
    (repo / "base.txt").write_text("base content\n")
    (repo / "keep" / "child.txt").write_text("child\n")
    state = small_disk / "state"
    mnt = tmp_path / "mnt"
    mount = Mount(repo, mnt, state)
    try:
        (mnt / "a").write_text("upper file\n")
        fill(mnt / "fill")
        # The journal keeps room for the records of what follows: deleting a base file
        # on a full disk works and stays deleted.
        os.unlink(mnt / "gone.txt")
        # Exhaust that room too, with renames (one record each, no data).
        renamed = 0
        with pytest.raises(OSError) as failure:
            for renamed in range(1, 200_000):
                os.rename(mnt / "a", mnt / "b")
                os.rename(mnt / "b", mnt / "a")
        assert failure.value.errno == errno.ENOSPC, failure.value
        assert renamed > 10
        # The refused rename did not happen halfway: exactly one of the names exists.
        assert sorted(p.name for p in mnt.iterdir() if p.name in ("a", "b")) in (["a"], ["b"])
        # Every operation that needs a record is refused before the host changes.
        expect_enospc(lambda: os.unlink(mnt / "base.txt"))
        expect_enospc(lambda: os.unlink(mnt / "keep" / "child.txt"))
        expect_enospc(lambda: os.mkdir(mnt / "newdir"))
        with pytest.raises(OSError) as appended:
            with open(mnt / "base.txt", "a") as f:  # copy-up: no room for its stamp
                f.write("more\n")
        assert appended.value.errno == errno.ENOSPC, appended.value
        # The fs is alive and shows the state the agent was told about.
        assert (mnt / "base.txt").read_text() == "base content\n"
        assert (mnt / "keep" / "child.txt").read_text() == "child\n"
        assert not (mnt / "gone.txt").exists()
        assert not (mnt / "newdir").exists()
        # Freeing space needs no record: the agent can always recover. The blocks of a
        # deleted file come back once the kernel lets go of it (its FORGET reaches the fs,
        # which then closes the host file): a moment after the unlink, not at once.
        os.unlink(mnt / "fill")
        deadline = time.monotonic() + 10
        while True:
            try:
                os.unlink(mnt / "base.txt")
                break
            except OSError as error:
                if error.errno != errno.ENOSPC or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        output = mount.stop()
    assert "terminate" not in output and "exception" not in output.lower(), output
    # A new mount replays the journal over the same upper: host and journal agree.
    mount = Mount(repo, mnt, state)
    try:
        names = sorted(p.name for p in mnt.iterdir())
        assert "gone.txt" not in names and "base.txt" not in names, names
        assert (mnt / "keep" / "child.txt").read_text() == "child\n"
        assert [n for n in names if n in ("a", "b")] in (["a"], ["b"])
    finally:
        mount.stop()
    assert (repo / "gone.txt").exists() and (repo / "base.txt").exists()  # never committed
