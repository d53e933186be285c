#!/usr/bin/env python3
"""Warm metadata walks in a server sandbox against native (issue 14 item 4: `find`,
`du -s` and a `stat` of every file, target <= 1.2x native).

One loopback server (defaults: the warm-up walk on), the bench tree (run_bench.py's
generator) imported, one running sandbox at level `read`. Each round runs every command
natively in the tree and through Exec in the sandbox, alternating which goes first; each
side runs it REPS times in one shell and keeps the runs after the first (warm), timed
inside the shell with date +%s%N, so gRPC and the sandbox's exec cost are left out.

    python3 bench/server_walk_bench.py [--files 20000] [--rounds 5] [--reps 4]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "server_integration"))
from run_bench import ensure_tree  # noqa: E402
from server_harness import Server, cb, rule, sb  # noqa: E402

COMMANDS = {
    "find .": "find . > /dev/null",
    "du -s": "du -s . > /dev/null",
    "stat of every file": "find . -type f -print0 | xargs -0 stat -c %s > /dev/null",
}
# $1 reps, $2 the command. Output: one line of microseconds per run.
TIMED = ('for r in $(seq 1 "$1"); do s=$(date +%s%N); sh -c "$2" || exit 1; '
         'e=$(date +%s%N); echo $(( (e - s) / 1000 )); done')


def warm_ms(output: str) -> list[float]:
    return [int(line) / 1000.0 for line in output.split()][1:]


def native(tree: Path, command: str, reps: int) -> list[float]:
    out = subprocess.run(["sh", "-c", TIMED, "sh", str(reps), command], cwd=tree,
                         capture_output=True, text=True, check=True)
    return warm_ms(out.stdout)


def sandboxed(server: Server, sandbox_id: str, command: str, reps: int) -> list[float]:
    quoted = command.replace("'", "'\\''")
    result = server.sandboxes.Exec(sb.ExecRequest(
        sandbox_id=sandbox_id, command=f"set -- {reps} '{quoted}'; {TIMED}"), timeout=600)
    assert result.exit_code == 0, result
    return warm_ms(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=4, help="runs per side and round")
    parser.add_argument("--tree", type=Path,
                        default=Path(tempfile.gettempdir()) / "agentfense-bench-tree")
    args = parser.parse_args()
    ensure_tree(args.tree, args.files, Path(tempfile.mkdtemp(prefix="af-bench-home-")))
    config = f"storage:\n  import_roots: [{args.tree.parent}]\n"
    server = Server(tempfile.mkdtemp(prefix="af-walk-bench-"), config=config).start()
    try:
        codebase = server.codebases.ImportDirectory(cb.ImportDirectoryRequest(
            name="bench", owner_id="bench", path=str(args.tree))).id
        sandbox = server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
            codebase_id=codebase, permissions=[rule("**", "read")]))
        server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox.id))
        times = {(label, side): [] for label in COMMANDS for side in ("native", "sandbox")}
        for round_ in range(args.rounds):
            for label, command in COMMANDS.items():
                sides = ["native", "sandbox"] if round_ % 2 == 0 else ["sandbox", "native"]
                for side in sides:
                    runs = (native(args.tree, command, args.reps) if side == "native"
                            else sandboxed(server, sandbox.id, command, args.reps))
                    times[(label, side)].extend(runs)
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox.id))
    finally:
        server.stop()
    print(f"\n{args.files} files, {args.rounds} rounds x {args.reps - 1} warm runs per side; "
          "medians (min-max), ms\n")
    print("| command | native | server sandbox | ratio |")
    print("|---|---:|---:|---:|")
    for label in COMMANDS:
        nat, box = times[(label, "native")], times[(label, "sandbox")]
        print(f"| {label} | {statistics.median(nat):.1f} ({min(nat):.1f}-{max(nat):.1f}) | "
              f"{statistics.median(box):.1f} ({min(box):.1f}-{max(box):.1f}) | "
              f"{statistics.median(box) / statistics.median(nat):.2f}x |")


if __name__ == "__main__":
    main()
