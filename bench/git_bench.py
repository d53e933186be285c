#!/usr/bin/env python3
"""git inside a sandbox vs native (issue 14 item 2): `git status`, `git diff HEAD~5`,
`git log -p -10` and `git commit -a` of a 1,000-file change, over a ~3,000-file
repository with 11 commits (bench/write_tree.py), each side in the same invocation and
interleaved (bench/side_by_side.py). Each round, every row runs in a fresh `agentfense
run --preset full-access` mount: "first" is the first git command of that mount, "warm"
the repetitions after it. Target: <= 1.5x native each, first run included.

Sandbox sides: the sandbox's generated /etc/gitconfig (core.checkStat=minimal,
core.trustctime=false, core.createObject=rename; src/runtime/etc_files.cc) and, with --git-defaults, the same
sandbox with GIT_CONFIG_NOSYSTEM=1 (git's defaults: the index's inode and owner must match
too). The native side runs git with its defaults (GIT_CONFIG_NOSYSTEM=1).

    python3 bench/git_bench.py [--rounds 3] [--reps 4] [--git-defaults] [--bin PATH]
        [--compare-bin OTHER_BUILD/agentfense]
        [--side-config core.createObject=rename] [--only commit]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from side_by_side import (Sandbox, Workload, load_summary, run_rounds,  # noqa: E402
                          table)
from write_tree import ensure_write_tree  # noqa: E402

DEFAULT_BIN = Path(__file__).resolve().parent.parent / "build" / "agentfense"

# The native side commits in its own copy (index refreshed, as a native checkout's would
# be); a sandbox commits in the base repository itself, so its edits are copy-ups and its
# index carries the stat data the host's git wrote.
COMMIT_SETUP = ('if [ "$SIDE" = native ]; then cp -a "$T/repo" repo && '
                'git -C repo update-index -q --refresh; R=$W/repo; else R=$T/repo; fi')
# Append a line to 1,000 tracked files ($r: the repetition, so each rep changes them).
EDIT_1000 = ('git -C "$R" ls-files "*.py" | head -n 1000 | '
             'while read -r f; do echo "    edit_$r = 1" >> "$R/$f"; done')
GIT_COMMIT = Workload("`git commit -a` (1,000 files changed)", setup=COMMIT_SETUP,
                      prep=EDIT_1000, run='git -C "$R" commit -q -a -m edit',
                      needs=("git",))

READ_SETUP = "R=$T/repo"
GIT_WORKLOADS = [
    Workload("`git status`", setup=READ_SETUP, run='git -C "$R" status > /dev/null',
             needs=("git",)),
    Workload("`git diff HEAD~5`", setup=READ_SETUP,
             run='git -C "$R" diff HEAD~5 > /dev/null', needs=("git",)),
    Workload("`git log -p -10`", setup=READ_SETUP,
             run='git -C "$R" log -p -10 > /dev/null', needs=("git",)),
    GIT_COMMIT,
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.environ.get("AGENTFENSE_BIN", str(DEFAULT_BIN)))
    parser.add_argument("--rounds", type=int, default=3, help="fresh mounts per row and side")
    parser.add_argument("--reps", type=int, default=4,
                        help="runs per mount: the first, then warm ones")
    parser.add_argument("--git-defaults", action="store_true",
                        help="add a sandbox side that ignores the generated /etc/gitconfig")
    parser.add_argument("--side-config", action="append", default=[], metavar="KEY=VALUE",
                        help="add a sandbox side running git with this config (repeatable, "
                        "one side each), e.g. core.createObject=rename")
    parser.add_argument("--compare-bin", metavar="PATH",
                        help="add a sandbox side running this other agentfense build (e.g. "
                        "the main branch's), to compare builds in one run")
    parser.add_argument("--only", help="rows whose name contains this text")
    parser.add_argument("--tree", type=Path,
                        default=Path("/var/tmp/agentfense-write-bench-tree"))
    args = parser.parse_args()
    if not os.access(args.bin, os.X_OK):
        raise SystemExit(f"agentfense binary not found: {args.bin}")
    if not any(os.access(f"{d}/git", os.X_OK) for d in ("/usr/bin", "/bin")):
        raise SystemExit("git is not installed (/usr/bin/git): nothing to measure")
    sides = [Sandbox("sandbox", args.bin)]
    if args.compare_bin:
        sides.append(Sandbox("sandbox, other build", args.compare_bin))
    if args.git_defaults:
        sides.append(Sandbox("sandbox, git defaults", args.bin,
                             env={"GIT_CONFIG_NOSYSTEM": "1"}))
    for setting in args.side_config:
        key, _, value = setting.partition("=")
        # side_by_side's BASE_ENV sets two GIT_CONFIG_* entries; this is the third.
        sides.append(Sandbox(f"sandbox, {setting}", args.bin,
                             env={"GIT_CONFIG_COUNT": "3", "GIT_CONFIG_KEY_2": key,
                                  "GIT_CONFIG_VALUE_2": value}))
    workloads = [w for w in GIT_WORKLOADS if not args.only or args.only in w.name]
    with tempfile.TemporaryDirectory(prefix="agentfense-git-bench-",
                                     dir=args.tree.parent) as scratch:
        ensure_write_tree(args.tree, Path(scratch))
        results, loads = run_rounds(args.tree, Path(scratch), workloads, sides,
                                    args.rounds, args.reps)
    print(f"\n### git, native vs `agentfense run --preset full-access` "
          f"({time.strftime('%Y-%m-%d %H:%M')}; {args.rounds} rounds x {args.reps} reps; "
          f"{load_summary(loads)})\n")
    print("First run of each fresh mount (median of rounds, min–max):\n")
    print(table(results, workloads, sides, "first", {}))
    if args.reps > 1:
        print("\nWarm (repetitions after the first, same mount):\n")
        print(table(results, workloads, sides, "warm", {}))


if __name__ == "__main__":
    main()
