#!/usr/bin/env python3
"""Write-heavy workloads natively and inside `agentfense run` (issue 14 item 5), over the
same input tree (bench/write_tree.py) in the same invocation, native and sandbox runs
interleaved (bench/side_by_side.py), `sync` before every timed run, medians and ranges.
Several --bin are timed as several sandbox sides of the same rounds (e.g. before and
after a change to the write path). See bench/README.md.

    python3 bench/write_bench.py [--rounds 3] [--reps 1] [--only SUBSTRING]... [--bin PATH]...
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from git_bench import GIT_COMMIT  # noqa: E402
from side_by_side import (Sandbox, Workload, load_summary, missing_tools,  # noqa: E402
                          run_rounds, table)
from write_tree import ensure_write_tree  # noqa: E402

DEFAULT_BIN = Path(__file__).resolve().parent.parent / "build" / "agentfense"

# Every row runs in an empty writable directory; `prep` removes a previous repetition's
# output, `setup` reads the inputs once so that the timed run measures writing.
COMPILE = ('for f in "$T"/cproj/*.c; do o=${f##*/}; cc -O1 -c "$f" -o "${o%.c}.o" || exit 1; '
           'done && cc -o app ./*.o')
NPM_INSTALL = ('mkdir node_modules && for p in "$T"/npm/*.tgz; do n=${p##*/}; '
               'd=node_modules/${n%.tgz}; mkdir "$d" && '
               'tar -xzf "$p" -C "$d" --strip-components=1 || exit 1; done')
WORKLOADS = [
    Workload("`dd bs=4k count=25000` (100 MB)", prep="rm -f dd.bin",
             run="dd if=/dev/zero of=dd.bin bs=4k count=25000 2>/dev/null"),
    Workload("`dd bs=1M count=100` (100 MB)", prep="rm -f dd.bin",
             run="dd if=/dev/zero of=dd.bin bs=1M count=100 2>/dev/null"),
    Workload("`tar -x` (5,000 files, 22 MB)", setup='cat "$T/bench.tar" > /dev/null',
             prep="rm -rf tree", run='tar -xf "$T/bench.tar"', needs=("tar",)),
    Workload("`rm -rf` (the 5,000 files)", prep='rm -rf tree && tar -xf "$T/bench.tar"',
             run="rm -rf tree", needs=("tar",)),
    Workload("`cp -r` (3,000-file source tree, 12 MB)",
             setup='tar -cf - -C "$T" src | cat > /dev/null', prep="rm -rf copy",
             run='cp -r "$T/src" copy'),
    Workload("10,000 creates of 1 KiB (python)", prep="rm -rf small",
             run='python3 "$T/creates.py" small', needs=("python3",)),
    # An editor's or a tool's save: new file, rename over the old one, in a sandbox whose
    # fs already knows the tree (the agent looked around first).
    Workload("1,000 atomic saves (write tmp + rename) after `find` of the tree",
             setup='find "$T" > /dev/null', prep='python3 "$T/saves.py" saves prep',
             run='python3 "$T/saves.py" saves run', needs=("python3",)),
    Workload("sqlite3: 20,000 INSERTs, 200 transactions", prep="rm -f db.sqlite*",
             setup='cat "$T/inserts.sql" > /dev/null',
             run='sqlite3 db.sqlite < "$T/inserts.sql"', needs=("sqlite3",)),
    GIT_COMMIT,
    Workload("compile 50 C files (`cc -O1 -c` loop + link)",
             setup='cat "$T"/cproj/* > /dev/null', prep="rm -f ./*.o app", run=COMPILE,
             needs=("cc",)),
    Workload("npm-style install (100 .tgz, 5,000 files, 600 dirs)",
             setup='cat "$T"/npm/*.tgz > /dev/null', prep="rm -rf node_modules",
             run=NPM_INSTALL, needs=("tar", "gzip")),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", action="append",
                        help="agentfense binary to time (repeatable; default build/agentfense)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved native/sandbox runs per row (each a fresh mount)")
    parser.add_argument("--reps", type=int, default=1, help="timed runs per mount")
    parser.add_argument("--preset", default="full-access")
    parser.add_argument("--only", action="append",
                        help="rows whose name contains this text (repeatable)")
    parser.add_argument("--tree", type=Path,
                        default=Path("/var/tmp/agentfense-write-bench-tree"))
    args = parser.parse_args()
    binaries = args.bin or [os.environ.get("AGENTFENSE_BIN", str(DEFAULT_BIN))]
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"agentfense binary not found: {binary}")
    sides = [Sandbox("sandbox" if len(binaries) == 1 else binary, binary, args.preset)
             for binary in binaries]
    workloads = [w for w in WORKLOADS if not args.only or any(o in w.name for o in args.only)]
    skipped = {}
    for w in workloads:
        if missing := missing_tools(w):
            skipped[w.name] = f"{', '.join(missing)} not installed"
            print(f"skipping {w.name}: {skipped[w.name]}", file=sys.stderr)
    timed = [w for w in workloads if w.name not in skipped]
    with tempfile.TemporaryDirectory(prefix="agentfense-write-bench-",
                                     dir=args.tree.parent) as scratch:
        ensure_write_tree(args.tree, Path(scratch))
        results, loads = run_rounds(args.tree, Path(scratch), timed, sides, args.rounds,
                                    args.reps)
    print(f"\n### Writes, native vs `agentfense run --preset {args.preset}` "
          f"({time.strftime('%Y-%m-%d %H:%M')}; {args.rounds} rounds x {args.reps} reps, "
          f"interleaved; {load_summary(loads)})\n")
    print("Median (min–max) of every timed run, ms; ratio = sandbox median / native median.\n")
    print(table(results, workloads, sides, "all", skipped))


if __name__ == "__main__":
    main()
