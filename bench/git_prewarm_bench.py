#!/usr/bin/env python3
"""git's first command once the warm-up walk is done (issue 14 items 2 and 3).

A server sandbox warms its mount in the background (`sandbox.prewarm`,
src/fs/prewarm_walk.h). This measures what a first git command finds when that walk has
ended: per build, a fresh `agentfense mount --preset full-access --prewarm --owner
60999:60999` of the bench repository (bench/write_tree.py, ~3,000 files, 11 commits),
then, once the walk logged `fs.prewarm_done`, the command twice as uid 60999 ("first",
"warm"), timed around the git process. Natively the same command twice in the
repository. Builds and native alternate within each round (ABBA), so all sides see the
same machine load.

The sandbox side runs git with the generated /etc/gitconfig's settings
(core.checkStat=minimal, core.trustctime=false) passed in the environment: a bare mount
has no generated /etc. Native runs git's defaults. Needs root (the mount's allow_other,
setpriv).

    python3 bench/git_prewarm_bench.py --bin NEW/agentfense [--bin OLD/agentfense]
        [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from side_by_side import BASE_ENV, load_summary  # noqa: E402
from write_tree import ensure_write_tree  # noqa: E402

AGENT = 60999
COMMANDS = ["status", "diff HEAD~5", "log -p -10"]
SANDBOX_GIT = {"GIT_CONFIG_COUNT": "4", "GIT_CONFIG_KEY_2": "core.checkStat",
               "GIT_CONFIG_VALUE_2": "minimal", "GIT_CONFIG_KEY_3": "core.trustctime",
               "GIT_CONFIG_VALUE_3": "false"}
# Each run: the command twice, each timed inside the same shell. Output: TIMING <rep> <us>.
TWICE = ('for r in 0 1; do s=$(date +%s%N); git {cmd} > /dev/null || exit 1; '
         'e=$(date +%s%N); echo "TIMING $r $(( (e - s) / 1000 ))"; done')


def timings(output: str) -> list[float]:
    return [int(line.split()[2]) / 1000.0 for line in output.splitlines()
            if line.startswith("TIMING ")]


def run_native(repo: Path, cmd: str) -> list[float]:
    env = {**BASE_ENV, "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1"}
    out = subprocess.run(["sh", "-c", TWICE.format(cmd=cmd)], cwd=repo, env=env,
                         capture_output=True, text=True, check=True)
    return timings(out.stdout)


def run_sandbox(binary: str, repo: Path, scratch: Path, cmd: str) -> list[float]:
    work = Path(tempfile.mkdtemp(prefix="mount-", dir=scratch))
    os.chmod(work, 0o755)
    point, log = work / "mnt", work / "fs.log"
    point.mkdir()
    with open(log, "w") as log_file:
        mount = subprocess.Popen([binary, "mount", "--preset", "full-access", "--prewarm",
                                  "--owner", f"{AGENT}:{AGENT}", str(repo), str(point)],
                                 stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while "fs.prewarm_done" not in log.read_text():
            if mount.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{binary}: the walk did not end:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        time.sleep(0.2)  # the walker's last replies are on their way
        env = {**BASE_ENV, **SANDBOX_GIT, "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1"}
        out = subprocess.run(["setpriv", f"--reuid={AGENT}", f"--regid={AGENT}",
                              "--clear-groups", "sh", "-c", TWICE.format(cmd=cmd)],
                             cwd=point, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"{binary} git {cmd} failed:\n{out.stderr[-2000:]}")
        return timings(out.stdout)
    finally:
        mount.terminate()
        mount.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def describe(values: list[float]) -> str:
    return (f"{statistics.median(values):.1f} "
            f"({min(values):.1f}–{max(values):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", action="append", required=True,
                        help="an agentfense build (repeatable: one side each)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tree", type=Path,
                        default=Path("/var/tmp/agentfense-write-bench-tree"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (the mount's allow_other, setpriv)")
    labels = ["native"] + args.bin
    results = {(cmd, label, rep): [] for cmd in COMMANDS for label in labels for rep in (0, 1)}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="agentfense-git-prewarm-",
                                     dir=args.tree.parent) as scratch:
        os.chmod(scratch, 0o755)  # the mountpoints below must be reachable by AGENT
        ensure_write_tree(args.tree, Path(scratch))
        repo = args.tree / "repo"
        for round_ in range(args.rounds):
            order = labels if round_ % 2 == 0 else list(reversed(labels))
            for cmd in COMMANDS:
                for label in order:
                    times = (run_native(repo, cmd) if label == "native"
                             else run_sandbox(label, repo, Path(scratch), cmd))
                    for rep, value in enumerate(times):
                        results[(cmd, label, rep)].append(value)
                loads.append(os.getloadavg()[0])
            print(f"round {round_ + 1}/{args.rounds} done (load {os.getloadavg()[0]:.1f})",
                  file=sys.stderr)
    print(f"\n### git's first command after the warm-up walk "
          f"({time.strftime('%Y-%m-%d %H:%M')}; {args.rounds} rounds; {load_summary(loads)})\n")
    print("Median (min–max) ms; ratio = sandbox first / native first.\n")
    print("| command | native first | native warm | "
          + " | ".join(f"{b} first | ratio | warm" for b in args.bin) + " |")
    print("|---|---:|---:|" + "---:|---:|---:|" * len(args.bin))
    for cmd in COMMANDS:
        native = results[(cmd, "native", 0)]
        cells = [describe(native), describe(results[(cmd, "native", 1)])]
        for binary in args.bin:
            first = results[(cmd, binary, 0)]
            cells += [describe(first),
                      f"{statistics.median(first) / statistics.median(native):.2f}x",
                      describe(results[(cmd, binary, 1)])]
        print(f"| `git {cmd}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
