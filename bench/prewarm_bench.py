#!/usr/bin/env python3
"""The first command of a server sandbox, with and without the background warm-up
(`sandbox.prewarm`, issue 14 item 3).

Two servers run side by side on loopback, one with `sandbox.prewarm: true` (the default)
and one with it off, over the same imported tree (bench/run_bench.py's generator,
git repository included). Each round, alternating the two servers so both see the same
machine load, measures:
  - create + start + first exec `true` (the warm-up must not slow it);
  - for each command, a fresh sandbox: start, wait --delay seconds (an agent's first
    LLM turn), run the command once ("first"), then again ("warm"); the command's own
    time, taken inside the sandbox with date +%s%N.
Prints medians and ranges, and first/warm per server. Target: first <= 1.3x warm.

    python3 bench/prewarm_bench.py [--files 20000] [--rounds 5] [--delay 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "server_integration"))
from run_bench import ensure_tree  # noqa: E402
from server_harness import Server, cb, rule, sb  # noqa: E402

# Everything readable, .git included (agent-safe hides it, and git status would then
# time a "not a git repository" error).
RULES = [rule("**", "read")]
COMMANDS = {
    "grep -r": "grep -r TODO . > /dev/null",
    "find": "find . > /dev/null",
    "git status": "git -c safe.directory='*' status > /dev/null",
}
TIMED = 's=$(date +%s%N); {cmd} || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 ))'


def start_server(tree: Path, sandbox_config: str) -> Server:
    config = f"storage:\n  import_roots: [{tree.parent}]\n" + sandbox_config
    return Server(tempfile.mkdtemp(prefix="af-prewarm-bench-"), config=config).start()


def new_sandbox(server: Server, codebase: str) -> str:
    sandbox = server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
        codebase_id=codebase, permissions=RULES))
    server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox.id))
    return sandbox.id


def destroy(server: Server, sandbox_id: str) -> None:
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def timed_us(server: Server, sandbox_id: str, command: str) -> float:
    result = server.sandboxes.Exec(sb.ExecRequest(
        sandbox_id=sandbox_id, command=TIMED.format(cmd=command)), timeout=600)
    assert result.exit_code == 0, result
    return float(result.stdout.split()[-1])


def start_and_true_ms(server: Server, codebase: str) -> float:
    started = time.perf_counter()
    sandbox_id = new_sandbox(server, codebase)
    server.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox_id, command="true"), timeout=60)
    elapsed = (time.perf_counter() - started) * 1000
    destroy(server, sandbox_id)
    return elapsed


def first_and_warm(server: Server, codebase: str, command: str, delay: float) -> tuple:
    sandbox_id = new_sandbox(server, codebase)
    time.sleep(delay)
    first = timed_us(server, sandbox_id, command)
    warm = timed_us(server, sandbox_id, command)
    destroy(server, sandbox_id)
    return first, warm


def describe(values: list[float], unit: float = 1.0) -> str:
    scaled = [v / unit for v in values]
    return f"{statistics.median(scaled):.1f} ({min(scaled):.1f}-{max(scaled):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--tree", type=Path,
                        default=Path(tempfile.gettempdir()) / "agentfense-bench-tree")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="af-bench-home-"))
    ensure_tree(args.tree, args.files, home)
    servers = {"prewarm on": start_server(args.tree, ""),
               "prewarm off": start_server(args.tree, "sandbox:\n  prewarm: false\n")}
    try:
        codebases = {name: server.codebases.ImportDirectory(cb.ImportDirectoryRequest(
            name="bench", owner_id="bench", path=str(args.tree))).id
            for name, server in servers.items()}
        start_ms = {name: [] for name in servers}
        runs = {(name, cmd): ([], []) for name in servers for cmd in COMMANDS}
        for round_ in range(args.rounds):
            order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
            for name in order:
                start_ms[name].append(start_and_true_ms(servers[name], codebases[name]))
                for label, command in COMMANDS.items():
                    first, warm = first_and_warm(servers[name], codebases[name], command,
                                                 args.delay)
                    runs[(name, label)][0].append(first)
                    runs[(name, label)][1].append(warm)
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
        print(f"\n{args.files} files, {args.rounds} rounds, first command {args.delay:g} s "
              "after start; medians (min-max)\n")
        print("| server | create+start+first exec `true`, ms |")
        print("|---|---:|")
        for name in servers:
            print(f"| {name} | {describe(start_ms[name])} |")
        print("\n| command | server | first, ms | warm, ms | first / warm |")
        print("|---|---|---:|---:|---:|")
        for label in COMMANDS:
            for name in servers:
                first, warm = runs[(name, label)]
                ratio = statistics.median(first) / statistics.median(warm)
                print(f"| {label} | {name} | {describe(first, 1000)} | {describe(warm, 1000)} "
                      f"| {ratio:.2f}x |")
    finally:
        for server in servers.values():
            server.stop()
            shutil.rmtree(server.data_dir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
