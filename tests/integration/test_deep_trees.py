"""An agent may nest directories as deep as the fs's path cap allows (2 * PATH_MAX - 1
bytes of workspace path, src/fs/filesystem.h kMaxWorkspacePath: ~4,000 levels of short
names; tests/fs/path_length_test.cc checks the cap). The change review and the commit
walk such a tree with a directory fd per level, which is more than the 1,024 open files
most hosts give as a soft limit: before the CLI raised its soft limit to the hard one,
`--changes apply` of a 1,500-level tree failed with "open directory for listing: Too
many open files" and the work was lost.

Applying it also re-walked every ancestor of every path from the root: cubic in the
depth (1,000 levels took 100 s); now under a second (layer::DirCursor).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness import Runner

SOFT_LIMIT = 1024  # what most hosts give a login shell
DEPTH = 1500  # more levels than the soft limit has fds

NEST = f"""
import os
os.chdir("output")
for _ in range({DEPTH}):
    os.mkdir("d")
    os.chdir("d")
with open("f", "w") as f:
    f.write("bottom\\n")
"""


def soft_limited(runner: Runner) -> Runner:
    """`runner` starting agentfense with a 1,024 soft limit and the usual hard one."""
    argv = runner.argv
    hard = os.sysconf("SC_OPEN_MAX")
    runner.argv = lambda args: [  # type: ignore[method-assign]
        "prlimit", f"--nofile={SOFT_LIMIT}:{max(hard, 8 * SOFT_LIMIT)}", "--", *argv(args)]
    return runner


def read_bottom(repo: Path) -> str:
    """The file at the bottom of the chain, opened level by level (its path is too long
    for one open)."""
    fd = os.open(repo / "output", os.O_PATH)
    try:
        for _ in range(DEPTH):
            next_fd = os.open("d", os.O_PATH, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open("f", os.O_RDONLY, dir_fd=fd)
        with os.fdopen(file_fd) as f:
            return f.read()
    finally:
        os.close(fd)


def test_a_tree_deeper_than_the_soft_open_file_limit_is_reviewed_and_applied(
        runner: Runner, repo: Path):
    try:
        result = soft_limited(runner).run(repo, ["python3", "-c", NEST],
                                          ["--preset", "full-access", "--changes", "apply"])
        assert result.returncode == 0, result.describe()
        assert "Too many open files" not in result.output, result.describe()
        assert read_bottom(repo) == "bottom\n"
    finally:
        # pytest's own removal of tmp_path recurses once per level and gives up.
        subprocess.run(["rm", "-rf", str(repo / "output" / "d")], check=True)


WIDE = """
import os
os.chdir("output")
for level in range(30):
    name = chr(ord("a") + level % 26) * 250
    os.mkdir(name)
    os.chdir(name)
for i in range(700):
    open(f"f{i:03}", "w").close()
"""


def test_the_review_lists_the_first_four_mib_of_an_agents_paths(runner: Runner, repo: Path):
    """700 files 7.5 KB deep name 5.3 MB of paths: the review prints the first 4 MiB of
    them and says how many more it left out, rather than every path an agent chose to
    make (a million of them would flood the reviewer's terminal with gigabytes)."""
    try:
        result = runner.run(repo, ["python3", "-c", WIDE],
                            ["--preset", "full-access", "--changes", "show"])
        assert result.returncode == 0, result.describe()
        assert "agentfense: 730 change(s):" in result.output, result.output[:2000]
        listed = [line for line in result.output.splitlines() if line.startswith("A /output")]
        left_out = 730 - len(listed)
        assert 100 < left_out < 250, len(listed)
        assert f"agentfense: ... and {left_out} more not listed" in result.output
        assert sum(len(line) for line in listed) < 4 << 20
        assert "agentfense: not applied (use --changes apply)" in result.output
    finally:
        subprocess.run(["rm", "-rf", str(repo / "output" / ("a" * 250))], check=True)


def test_explain_lists_a_deep_tree_with_a_small_stack(runner: Runner, tmp_path: Path):
    """`explain` walked the tree recursively, a pair of C++ frames per level: a chain of
    4,095 levels (what an agent can have applied) overflowed a 1 MiB stack, 30,000 the
    default 8 MiB one (SIGSEGV). The walk keeps its own stack now; 1,500 levels under a
    256 KiB stack crashed the recursive one."""
    tree = tmp_path / "deep"
    tree.mkdir()
    fd = os.open(tree, os.O_PATH)
    try:
        for _ in range(DEPTH):
            os.mkdir("d", dir_fd=fd)
            next_fd = os.open("d", os.O_PATH, dir_fd=fd)
            os.close(fd)
            fd = next_fd
    finally:
        os.close(fd)
    try:
        result = runner.invoke(["explain", "--preset", "full-access", str(tree)])
        small = subprocess.run(
            ["bash", "-c", 'ulimit -s 256 && exec "$@"', "-", *runner.argv(
                ["explain", "--preset", "full-access", str(tree)])],
            capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run(["rm", "-rf", str(tree / "d")], check=True)
    assert result.returncode == 0, result.describe()
    assert small.returncode == 0, (small.returncode, small.stderr[-2000:])
    assert small.stdout == result.stdout
    assert len(small.stdout.splitlines()) == DEPTH
