"""Issue 15 follow-up: the fs held two O_PATH fds for every directory the kernel knew, so
creating ~20,000 directories in one sandbox (`mkdir` in a loop, `os.makedirs`, a `find`
over them) ended in "Too many open files" inside the mount. Directory fds are now a
bounded cache (src/fs/dir_fd_cache.h) reopened on demand, so any number of directories
works within the fs process's open-file limit.

The run gets a small RLIMIT_NOFILE (prlimit: soft = hard, so the fs cannot raise it) to
go far past the fd budget quickly: four times as many directories as the limit, plus a
nested chain with a long path, each listed, stat'ed, written into and removed.
"""

from __future__ import annotations

from pathlib import Path

from harness import Runner

OPEN_FILE_LIMIT = 256
FLAT_DIRS = 4 * OPEN_FILE_LIMIT
# A chain deeper than the fd cache (a quarter of the limit) whose path is longer than
# one reopen resolves at once (src/fs/dir_handle.cc), yet within PATH_MAX and below the
# limit for the command's own fd-per-level walks.
DEPTH = 60
LONG_NAME = "n" * 50

SCRIPT = f"""
import os, shutil, subprocess
os.makedirs("output/many")
for i in range({FLAT_DIRS}):
    os.mkdir(f"output/many/d{{i}}")
deep = "output/deep"
os.mkdir(deep)
for _ in range({DEPTH}):
    deep += "/{LONG_NAME}"
    os.mkdir(deep)
# Revisit every directory after all were created: their fds were evicted by now.
names = os.listdir("output/many")
print("listed", len(names))
print("stat", sum(1 for n in names if os.path.isdir(f"output/many/{{n}}")))
for n in names:
    with open(f"output/many/{{n}}/f", "w") as f:
        f.write(n)
print("read", sum(open(f"output/many/{{n}}/f").read() == n for n in names))
print("walked", sum(1 for _ in os.walk("output")))
find = subprocess.run(["find", "output", "-type", "d"], capture_output=True, text=True)
print("find", len(find.stdout.splitlines()), "errors", len(find.stderr.splitlines()))
shutil.rmtree("output/many")
shutil.rmtree("output/deep")
print("left", sorted(os.listdir("output")))
"""


def limited(runner: Runner) -> Runner:
    """`runner` with agentfense (and so its fs process) under a fixed open-file limit.
    prlimit execs what follows: the pid the leftover check looks for is the same."""
    argv = runner.argv
    runner.argv = lambda args: [  # type: ignore[method-assign]
        "prlimit", f"--nofile={OPEN_FILE_LIMIT}:{OPEN_FILE_LIMIT}", "--", *argv(args)]
    return runner


def check_many_directories(runner: Runner, repo: Path) -> None:
    result = limited(runner).run(repo, ["python3", "-c", SCRIPT],
                                 ["--preset", "full-access", "--changes", "discard"])
    assert result.returncode == 0, result.describe()
    assert "Too many open files" not in result.output, result.describe()
    lines = result.stdout.splitlines()
    assert f"listed {FLAT_DIRS}" in lines, result.describe()
    assert f"stat {FLAT_DIRS}" in lines, result.describe()
    assert f"read {FLAT_DIRS}" in lines, result.describe()
    # output, many, its directories, deep and its chain.
    total = 1 + 1 + FLAT_DIRS + 1 + DEPTH
    assert f"walked {total}" in lines, result.describe()
    assert f"find {total} errors 0" in lines, result.describe()
    assert "left ['report.txt', 'stale.txt']" in lines, result.describe()


def test_more_directories_than_open_files_can_be_created_listed_and_removed(
        runner: Runner, repo: Path):
    check_many_directories(runner, repo)
