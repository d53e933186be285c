"""Commits to one directory are serialized on a lock file only the committing user can
open (layer/commit_lock.h), not on a flock of the directory itself: anyone who can read
the directory could hold that one and hang every apply on it."""

from __future__ import annotations

import fcntl
import os


def test_a_flock_held_on_the_directory_does_not_hang_apply(runner, repo):
    holder = os.open(repo, os.O_RDONLY | os.O_DIRECTORY)
    try:
        # What `flock -x DIR sleep infinity` by any local user amounts to.
        fcntl.flock(holder, fcntl.LOCK_EX)
        result = runner.sh(repo, "echo applied > output/flocked.txt",
                           ["--changes", "apply"], timeout=30)
    finally:
        os.close(holder)
    assert result.returncode == 0, result.describe()
    assert (repo / "output" / "flocked.txt").read_text() == "applied\n"
