#!/usr/bin/env python3
"""AgentFense benchmark: everyday agent commands natively vs inside `agentfense run`, and
sandbox start-up time. See bench/README.md for what is measured and why."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_BIN = Path(__file__).resolve().parent.parent / "build" / "agentfense"
TREE_VERSION = "1"  # bump when generation changes, so a cached tree is rebuilt

# Each command runs in the tree's root. tar pipes through cat because GNU tar notices an
# archive on /dev/null and then skips reading file contents, which would time nothing.
COMMANDS = {
    "grep -r TODO .": "grep -r TODO . > /dev/null",
    "tar -cf - .": "tar -cf - . | cat > /dev/null",
    "find .": "find . > /dev/null",
    "ls -lR": "ls -lR > /dev/null",
    "du -s": "du -s . > /dev/null",
    "git status": "git -c safe.directory='*' status > /dev/null",
}

# Runs in one shell process: every command once ("first"), then REPS times ("warm").
# Output lines: TIMING <index> <first|warm> <microseconds>. Timing is taken inside the
# shell with date +%s%N so sandbox start-up is excluded.
TIMING_SCRIPT = r"""
cd "$1" || exit 1
reps=$2
shift 2
time_one() {
  start=$(date +%s%N); sh -c "$2" 2>/dev/null; end=$(date +%s%N)
  echo "TIMING $1 $3 $(( (end - start) / 1000 ))"
}
i=0; for cmd in "$@"; do time_one $i "$cmd" first; i=$((i + 1)); done
i=0; for cmd in "$@"; do
  r=0; while [ $r -lt "$reps" ]; do time_one $i "$cmd" warm; r=$((r + 1)); done
  i=$((i + 1))
done
"""

WORDS = ("value result index buffer config handler request response parse render "
         "update delete create fetch cache token stream event queue worker").split()


def source_line(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.03:
        return f"    # TODO: {rng.choice(WORDS)} the {rng.choice(WORDS)} properly\n"
    if kind < 0.15:
        return f"def {rng.choice(WORDS)}_{rng.choice(WORDS)}({rng.choice(WORDS)}):\n"
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
    return f"    {rng.choice(WORDS)} = {words!r}  # {rng.randint(0, 99999)}\n"


def generate_tree(root: Path, files: int) -> None:
    """A deterministic tree: `files` small source-like files in ~files/8 directories (up to
    4 levels deep), plus a few multi-MB files."""
    rng = random.Random(20240601)
    lines = [source_line(rng) for _ in range(20000)]
    dirs = [root]
    for n in range(max(1, files // 8)):
        parent = rng.choice(dirs[-200:]) if len(dirs) > 1 and rng.random() < 0.7 else root
        if len(parent.relative_to(root).parts) >= 4:
            parent = root
        path = parent / f"{rng.choice(WORDS)}_{n}"
        path.mkdir(parents=True)
        dirs.append(path)
    for n in range(files):
        directory = rng.choice(dirs)
        count = int(rng.lognormvariate(4.5, 0.9)) + 1  # median ~90 lines, long tail
        start = rng.randrange(len(lines))
        text = "".join(lines[(start + i) % len(lines)] for i in range(count))
        (directory / f"{rng.choice(WORDS)}_{n}.py").write_text(text)
    block = "".join(lines).encode()
    for n in range(12):  # 12 files of 2-9 MB: ~60 MB of logs/data blobs
        size = rng.randint(2, 9) * 1024 * 1024
        with open(rng.choice(dirs) / f"data_{n}.log", "wb") as out:
            for offset in range(0, size, len(block)):
                out.write(block[: size - offset])


def git(tree: Path, home: Path, *args: str) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "-C", str(tree), "-c", "safe.directory=*", *args], check=True,
                   env=env, stdout=subprocess.DEVNULL)


def ensure_tree(tree: Path, files: int, home: Path) -> None:
    stamp = tree / ".bench-stamp"
    wanted = f"{TREE_VERSION} {files}"
    if stamp.exists() and stamp.read_text() == wanted:
        print(f"reusing tree {tree}", file=sys.stderr)
        return
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    started = time.monotonic()
    generate_tree(tree, files)
    git(tree, home, "init", "-q")
    (tree / ".git" / "info" / "exclude").write_text(".bench-stamp\n")
    git(tree, home, "add", "-A")
    git(tree, home, "-c", "user.name=bench", "-c", "user.email=bench@example.com",
        "commit", "-q", "-m", "bench tree")
    stamp.write_text(wanted)
    print(f"generated {tree} in {time.monotonic() - started:.1f}s", file=sys.stderr)


def parse_timings(output: str) -> dict[str, dict[str, list[float]]]:
    names = list(COMMANDS)
    timings = {name: {"first": [], "warm": []} for name in names}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == "TIMING":
            timings[names[int(parts[1])]][parts[2]].append(int(parts[3]) / 1000.0)
    for name, runs in timings.items():
        if not runs["first"] or not runs["warm"]:
            raise SystemExit(f"no timings for {name!r}; output was:\n{output[-2000:]}")
    return timings


def time_native(tree: Path, reps: int, home: Path) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LC_ALL": "C"}
    out = subprocess.run(["sh", "-c", TIMING_SCRIPT, "sh", str(tree), str(reps),
                          *COMMANDS.values()], env=env, capture_output=True, text=True,
                         check=True)
    return parse_timings(out.stdout)


# `agentfense run`'s runtime flags: empty for bwrap, --runtime docker ... with --runtime docker.
RUNTIME_FLAGS: list[str] = []


def sandbox_timing_run(binary: str, tree: Path, reps: int, commands: list[str],
                       audit: Path | None = None) -> str:
    audit_flags = ["--audit", str(audit)] if audit else []
    argv = [binary, "run", *RUNTIME_FLAGS, "--preset", "agent-safe", "--rule", "**/.git/**=write:200",
            *audit_flags,
            "--changes", "discard", "--env", "PATH=/usr/bin:/bin", "--env", "HOME=/tmp",
            "--env", "LC_ALL=C", str(tree), "--", "sh", "-c", TIMING_SCRIPT, "sh",
            "/workspace", str(reps), *commands]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"sandbox run failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return out.stdout


def time_sandbox(binary: str, tree: Path, reps: int, audit: Path | None = None) -> dict:
    return parse_timings(sandbox_timing_run(binary, tree, reps, list(COMMANDS.values()), audit))


def audit_comparison(binary: str, tree: Path, reps: int, rounds: int) -> str:
    """The same sandbox pass with the audit trail off and on, in ABBA order so both meet
    the same machine state; medians over rounds of each command's warm median and first
    run. The trail goes to a temporary file, removed after each run."""
    samples = {mode: {name: {"warm": [], "first": []} for name in COMMANDS}
               for mode in ("off", "on")}
    events = []
    with tempfile.TemporaryDirectory(prefix="agentfense-bench-audit-") as scratch:
        for round_ in range(rounds):
            order = ("off", "on") if round_ % 2 == 0 else ("on", "off")
            for mode in order:
                trail = Path(scratch) / "trail.jsonl" if mode == "on" else None
                timings = time_sandbox(binary, tree, reps, trail)
                for name in COMMANDS:
                    samples[mode][name]["warm"].append(statistics.median(timings[name]["warm"]))
                    samples[mode][name]["first"].append(timings[name]["first"][0])
                if trail:
                    events.append(sum(1 for _ in trail.open()))
                    trail.unlink()
    out = [f"### Audit trail off vs on ({rounds} rounds ABBA, {reps} warm reps, "
           f"{time.strftime('%Y-%m-%d %H:%M')}; {statistics.median(events):.0f} events per pass)",
           "", "| command | warm off ms | warm on ms | on ÷ off | first off ms | first on ms "
           "| on ÷ off |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name in COMMANDS:
        w_off, w_on = (statistics.median(samples[m][name]["warm"]) for m in ("off", "on"))
        f_off, f_on = (statistics.median(samples[m][name]["first"]) for m in ("off", "on"))
        out.append(f"| `{name}` | {w_off:.1f} | {w_on:.1f} | {w_on / w_off:.3f} "
                   f"| {f_off:.1f} | {f_on:.1f} | {f_on / f_off:.3f} |")
    return "\n".join(out) + "\n"


def time_fresh_mounts(binary: str, tree: Path) -> dict[str, float]:
    """Each command alone as the first command of its own fresh mount, in ms."""
    fresh = {}
    for name, command in COMMANDS.items():
        output = sandbox_timing_run(binary, tree, 0, [command])
        times = [int(line.split()[3]) / 1000.0 for line in output.splitlines()
                 if line.startswith("TIMING 0 first ")]
        if len(times) != 1:
            raise SystemExit(f"no fresh-mount timing for {name!r}; output was:\n{output[-2000:]}")
        fresh[name] = times[0]
    return fresh


def median_wall_ms(argv: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


BWRAP_BASELINE = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
                  "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                  "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev",
                  "--tmpfs", "/tmp", "true"]


def startup_rows(binary: str, tree: Path, runs: int) -> list[tuple[str, float]]:
    rows = [("true (native)", median_wall_ms(["true"], runs))]
    if shutil.which("bwrap"):
        rows.append(("bwrap ... true (all namespaces)", median_wall_ms(BWRAP_BASELINE, runs)))
    rows.append((f"agentfense run {' '.join(RUNTIME_FLAGS[:2])} DIR -- true".replace("  ", " "),
                 median_wall_ms([binary, "run", *RUNTIME_FLAGS, "--changes", "discard",
                                 str(tree), "--", "true"], runs)))
    return rows


def render(native: dict, sandbox: dict, fresh: dict, startup: list, files: int,
           reps: int) -> str:
    runtime = f", {RUNTIME_FLAGS[1]} runtime" if RUNTIME_FLAGS else ""
    out = [f"### AgentFense benchmark ({files} files, {reps} warm reps{runtime}, "
           f"{time.strftime('%Y-%m-%d %H:%M')})", "",
           "| command | native ms | sandbox ms | ratio | first native ms | first sandbox ms "
           "| first ratio | fresh mount ms | fresh ratio |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in COMMANDS:
        warm_n = statistics.median(native[name]["warm"])
        warm_s = statistics.median(sandbox[name]["warm"])
        first_n, first_s = native[name]["first"][0], sandbox[name]["first"][0]
        out.append(f"| `{name}` | {warm_n:.1f} | {warm_s:.1f} | {warm_s / warm_n:.2f}x "
                   f"| {first_n:.1f} | {first_s:.1f} | {first_s / first_n:.2f}x "
                   f"| {fresh[name]:.1f} | {fresh[name] / first_n:.2f}x |")
    out += ["", "| start-up (median wall) | ms |", "|---|---:|"]
    out += [f"| {name} | {ms:.1f} |" for name, ms in startup]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20000, help="files in the tree")
    parser.add_argument("--reps", type=int, default=3, help="warm repetitions per command")
    parser.add_argument("--startup-runs", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp/agentfense-bench-tree"),
                        help="where the tree is generated (reused if already there)")
    parser.add_argument("--bin", default=os.environ.get("AGENTFENSE_BIN", str(DEFAULT_BIN)))
    parser.add_argument("--out", type=Path, help="append the markdown tables to this file")
    parser.add_argument("--audit-rounds", type=int, default=0,
                        help="only compare the sandbox with the audit trail off and on, "
                             "this many rounds (ABBA order)")
    parser.add_argument("--runtime", choices=["bwrap", "docker"], default="bwrap",
                        help="the sandbox side's runtime (docker: in a container of --image)")
    parser.add_argument("--image", default="agentfense-test:latest",
                        help="--runtime docker: the image (the test image by default)")
    parser.add_argument("--docker-host", help="--runtime docker: a running dockerd that has "
                        "--image; default: a private dockerd with the test image")
    args = parser.parse_args()
    if not os.access(args.bin, os.X_OK):
        raise SystemExit(f"agentfense binary not found: {args.bin}")
    daemon = None
    if args.runtime == "docker":
        host = args.docker_host
        if not host:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "docker"))
            from dockerd import Dockerd
            daemon = Dockerd().start()
            daemon.import_image(args.image)
            host = daemon.host
        RUNTIME_FLAGS[:] = ["--runtime", "docker", "--image", args.image, "--docker-host", host]
    try:
        run(args)
    finally:
        if daemon:
            daemon.stop()


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="agentfense-bench-home-") as home:
        ensure_tree(args.dir, args.files, Path(home))
        # Read the whole tree once so "first run" compares mount cost, not disk reads.
        subprocess.run("tar -cf - . | cat > /dev/null", shell=True, cwd=args.dir, check=True)
        if args.audit_rounds:
            table = audit_comparison(args.bin, args.dir, args.reps, args.audit_rounds)
            print(table)
            if args.out:
                with open(args.out, "a") as out:
                    out.write(table + "\n")
            return
        native = time_native(args.dir, args.reps, Path(home))
        sandbox = time_sandbox(args.bin, args.dir, args.reps)
        fresh = time_fresh_mounts(args.bin, args.dir)
    startup = startup_rows(args.bin, args.dir, args.startup_runs)
    table = render(native, sandbox, fresh, startup, args.files, args.reps)
    print(table)
    if args.out:
        with open(args.out, "a") as out:
            out.write(table + "\n")


if __name__ == "__main__":
    main()
