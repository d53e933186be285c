#!/usr/bin/env python3
"""Write-path benchmark: what the write layer costs per write, natively and inside
`agentfense run` with one or more agentfense binaries (e.g. before and after a change to
the write path), in the same invocation. See bench/README.md."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import tarfile
import tempfile
from pathlib import Path

DEFAULT_BIN = Path(__file__).resolve().parent.parent / "build" / "agentfense"

# name -> shell command run in a writable directory holding ../bench.tar.
COMMANDS = {
    "dd bs=4k count=25000": "dd if=/dev/zero of=dd.bin bs=4k count=25000 2>/dev/null",
    "dd bs=1M count=100": "dd if=/dev/zero of=dd.bin bs=1M count=100 2>/dev/null",
    "tar -x (5,000 files)": "tar -xf ../bench.tar",
    "rm -rf (5,000 files)": "rm -rf tree dd.bin",
}

# $1 = writable directory, $2 = reps, then the commands. Each rep runs every command in
# order (the rm cleans up for the next rep). Output: TIMING <index> <microseconds>.
TIMING_SCRIPT = r"""
cd "$1" || exit 1
reps=$2
shift 2
r=0; while [ $r -lt "$reps" ]; do
  i=0; for cmd in "$@"; do
    start=$(date +%s%N); sh -c "$cmd"; end=$(date +%s%N)
    echo "TIMING $i $(( (end - start) / 1000 ))"
    i=$((i + 1))
  done
  r=$((r + 1))
done
"""


def make_codebase(root: Path) -> None:
    """`root/bench.tar`: 5,000 files of 1-8 KiB in 250 directories; `root/output/` empty."""
    rng = random.Random(7)
    source = root / "src-tree"
    for n in range(5000):
        path = source / "tree" / f"d{n % 250}" / f"f{n}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(1024, 8192)))
    with tarfile.open(root / "bench.tar", "w") as tar:
        tar.add(source / "tree", arcname="tree")
    subprocess.run(["rm", "-rf", str(source)], check=True)
    (root / "output").mkdir()
    subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)


def parse(output: str) -> dict[str, list[float]]:
    names = list(COMMANDS)
    timings: dict[str, list[float]] = {name: [] for name in names}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "TIMING":
            timings[names[int(parts[1])]].append(int(parts[2]) / 1000.0)
    return timings


def time_native(root: Path, reps: int) -> dict[str, list[float]]:
    out = subprocess.run(["sh", "-c", TIMING_SCRIPT, "sh", str(root / "output"), str(reps),
                          *COMMANDS.values()], capture_output=True, text=True, check=True)
    return parse(out.stdout)


def time_sandbox(binary: str, root: Path, reps: int) -> dict[str, list[float]]:
    argv = [binary, "run", "--preset", "agent-safe", "--changes", "discard",
            "--env", "PATH=/usr/bin:/bin", str(root), "--", "sh", "-c", TIMING_SCRIPT, "sh",
            "/workspace/output", str(reps), *COMMANDS.values()]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{binary} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return parse(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", action="append",
                        help="agentfense binary to time (repeatable; default build/agentfense)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per command")
    parser.add_argument("--rounds", type=int, default=3,
                        help="sandbox runs per binary, interleaved between binaries")
    args = parser.parse_args()
    binaries = args.bin or [os.environ.get("AGENTFENSE_BIN", str(DEFAULT_BIN))]
    with tempfile.TemporaryDirectory(prefix="agentfense-write-bench-") as tmp:
        root = Path(tmp)
        make_codebase(root)
        native = time_native(root, args.reps)
        results = {binary: {name: [] for name in COMMANDS} for binary in binaries}
        for _ in range(args.rounds):
            for binary in binaries:
                for name, samples in time_sandbox(binary, root, args.reps).items():
                    results[binary][name] += samples
    header = "| command | native ms | " + " | ".join(
        f"`{b}` ms | ratio" for b in binaries) + " |"
    print(header)
    print("|---|---:|" + "---:|---:|" * len(binaries))
    for name in COMMANDS:
        base = statistics.median(native[name])
        cells = [f"{statistics.median(results[b][name]):.1f} | "
                 f"{statistics.median(results[b][name]) / base:.2f}x" for b in binaries]
        print(f"| `{name}` | {base:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
