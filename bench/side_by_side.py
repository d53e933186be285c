"""Shared engine of write_bench.py and git_bench.py: time shell workloads natively and
inside `agentfense run` over the same tree in the same invocation, interleaved so both
sides meet the same machine state (the disk here is shared and drifts by 2x).

A workload is shell text run with `eval` in a writable directory $W, with the read-only
inputs under $T and $SIDE naming the side (native, or a sandbox label):
  setup  once per side per round, untimed (e.g. copy a repository for the native side);
  prep   before every repetition, untimed (e.g. edit the files a commit will take);
  run    timed with `date +%s%N` inside the same shell, after `sync`.
Every round runs each workload once per side, native first in even rounds and last in
odd ones (ABBA), and every sandbox side is a fresh `agentfense run` (a fresh mount): the
first repetition is the first command after the mount's setup, later ones are warm.
The native side works in a fresh directory beside the sandbox's write layer (in
/var/lib/agentfense/cli-layers when run as root, where `agentfense run` keeps it; else
next to the tree),
removed after each run; the sandbox side in /workspace/out with `--changes discard`.
Beside the write layer because the cost of creating a file depends on where its
directory sits: on an ext4 without a journal (this development machine's) a new inode
skips every inode deleted in that block group in the last minutes, and 10,000 creates
took 0.12 s under /var/tmp but 2.1-2.8 s in the write layers' directory, where every
discarded sandbox leaves thousands of deleted inodes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# $1 tree, $2 writable dir, $3 reps, $4 setup, $5 prep, $6 run. Output: TIMING <rep> <us>.
TIMING_SCRIPT = r"""
T=$1; W=$2; reps=$3; export T W
cd "$W" || exit 1
eval "$4" || { echo "setup failed: $4" >&2; exit 1; }
r=0; while [ "$r" -lt "$reps" ]; do
  cd "$W"
  eval "$5" || { echo "prep failed: $5" >&2; exit 1; }
  sync
  s=$(date +%s%N)
  ( eval "$6" ) || { echo "run failed: $6" >&2; exit 1; }
  e=$(date +%s%N)
  echo "TIMING $r $(( (e - s) / 1000 ))"
  r=$((r + 1))
done
"""

# Both sides: git needs an identity and accepts a repository owned by someone else; no
# automatic `git gc` (it detaches and would outlive the timed run, racing the cleanup).
BASE_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@example.com", "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*",
            "GIT_CONFIG_KEY_1": "gc.auto", "GIT_CONFIG_VALUE_1": "0"}


@dataclass
class Workload:
    name: str
    run: str
    setup: str = ""
    prep: str = ""
    needs: tuple[str, ...] = ()  # programs that must exist, or the row is skipped


@dataclass
class Sandbox:
    """One sandbox side: an agentfense binary, a preset and extra environment."""
    label: str
    binary: str
    preset: str = "full-access"
    env: dict[str, str] = field(default_factory=dict)


def missing_tools(workload: Workload) -> list[str]:
    return [tool for tool in workload.needs
            if not any(os.access(f"{d}/{tool}", os.X_OK) for d in ("/usr/bin", "/bin"))]


def parse(output: str) -> list[float]:
    """Milliseconds per repetition, in order."""
    return [int(line.split()[2]) / 1000.0 for line in output.splitlines()
            if line.startswith("TIMING ")]


def native_work_dir(scratch: Path) -> Path:
    """Where the native side writes: beside the sandboxes' write layers (see above)."""
    layers = Path("/var/lib/agentfense/cli-layers")
    if os.geteuid() == 0 and layers.is_dir():
        return layers / f"bench-native-{os.getpid()}"
    return scratch / "native-work"


def run_native(tree: Path, scratch: Path, home: Path, w: Workload, reps: int) -> list[float]:
    work = native_work_dir(scratch)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir()
    # The host's own git config is not the subject; git's defaults are.
    env = {**BASE_ENV, "HOME": str(home), "SIDE": "native", "GIT_CONFIG_NOSYSTEM": "1"}
    try:
        out = subprocess.run(["sh", "-c", TIMING_SCRIPT, "sh", str(tree), str(work),
                              str(reps), w.setup, w.prep, w.run],
                             env=env, capture_output=True, text=True)
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=True)
    if out.returncode != 0:
        raise SystemExit(f"native {w.name!r} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return parse(out.stdout)


def run_sandbox(tree: Path, side: Sandbox, w: Workload, reps: int) -> list[float]:
    env = {**BASE_ENV, "HOME": "/tmp", "SIDE": "sandbox", **side.env}
    env_flags = [flag for key, value in env.items() for flag in ("--env", f"{key}={value}")]
    argv = [side.binary, "run", "--preset", side.preset, "--changes", "discard", *env_flags,
            str(tree), "--", "sh", "-c", TIMING_SCRIPT, "sh", "/workspace",
            "/workspace/out", str(reps), w.setup, w.prep, w.run]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{side.label} {w.name!r} failed ({out.returncode}):\n"
                         f"{out.stderr[-2000:]}")
    return parse(out.stdout)


@dataclass
class Samples:
    first: list[float] = field(default_factory=list)  # rep 0 of each round
    warm: list[float] = field(default_factory=list)   # reps 1.. of each round
    all: list[float] = field(default_factory=list)


def run_rounds(tree: Path, scratch: Path, workloads: list[Workload], sides: list[Sandbox],
               rounds: int, reps: int) -> tuple[dict, list[float]]:
    """{(workload name, side label): Samples}, and the 1-minute load averages seen."""
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    labels = ["native"] + [s.label for s in sides]
    results = {(w.name, label): Samples() for w in workloads for label in labels}
    loads = [os.getloadavg()[0]]
    for round_ in range(rounds):
        order = labels if round_ % 2 == 0 else list(reversed(labels))
        for w in workloads:
            for label in order:
                if label == "native":
                    times = run_native(tree, scratch, home, w, reps)
                else:
                    times = run_sandbox(tree, next(s for s in sides if s.label == label),
                                        w, reps)
                subprocess.run(["sync"], check=True)
                if len(times) != reps:
                    raise SystemExit(f"{label} {w.name!r}: {len(times)} timings, not {reps}")
                samples = results[(w.name, label)]
                samples.first.append(times[0])
                samples.warm += times[1:]
                samples.all += times
            loads.append(os.getloadavg()[0])
        print(f"round {round_ + 1}/{rounds} done "
              f"(load {os.getloadavg()[0]:.1f}, {time.strftime('%H:%M:%S')})", file=sys.stderr)
    return results, loads


def describe(values: list[float]) -> str:
    """Median (min-max) in ms."""
    fmt = (lambda v: f"{v:.0f}") if statistics.median(values) >= 100 else (lambda v: f"{v:.1f}")
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def ratio(sandbox: list[float], native: list[float]) -> str:
    return f"{statistics.median(sandbox) / statistics.median(native):.2f}x"


def table(results: dict, workloads: list[Workload], sides: list[Sandbox], column: str,
          skipped: dict[str, str]) -> str:
    """One row per workload: native and every sandbox side, median (range), ratio."""
    head = "| workload | native ms | " + " | ".join(
        f"{s.label} ms | ratio" for s in sides) + " |"
    lines = [head, "|---|---:|" + "---:|---:|" * len(sides)]
    for w in workloads:
        if w.name in skipped:
            lines.append(f"| {w.name} | skipped: {skipped[w.name]} |" + " |" * (2 * len(sides)))
            continue
        native = getattr(results[(w.name, "native")], column)
        cells = []
        for s in sides:
            values = getattr(results[(w.name, s.label)], column)
            cells.append(f"{describe(values)} | {ratio(values, native)}")
        lines.append(f"| {w.name} | {describe(native)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_summary(loads: list[float]) -> str:
    return f"load average (1 min) {min(loads):.1f}–{max(loads):.1f}"
