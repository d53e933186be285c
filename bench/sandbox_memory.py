#!/usr/bin/env python3
"""What an idle server sandbox costs in memory, per process kind: starts the real server
(bench/server_load.py's helpers), creates, starts and runs `true` in N sandboxes, waits,
then sums the PSS of the server's children by command (PSS divides shared pages among
the processes mapping them, so the sum is what they really cost).

    python3 bench/sandbox_memory.py [--sandboxes 10] [--settle 5]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import server_load  # noqa: E402


def command_of(pid: int) -> str:
    """The process's name (comm) and, for our own binaries, their subcommand."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    if name.isdigit():  # executed from a memfd by its fd number: the exec launcher
        return "agentfense-launcher (memfd)"
    sub = argv[1].decode(errors="replace") if len(argv) > 1 and name.startswith("agentfense") else ""
    return f"{name} {sub}".strip() if sub and not sub.startswith("-") else name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sandboxes", type=int, default=10)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds idle before measuring")
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="af-mem-")
    srv = server_load.start_server(data_dir, "plain", args.sandboxes + 10)
    try:
        codebase_id = server_load.load_codebase(srv)
        base = server_load.pss_kib([srv.proc.pid] + server_load.descendants(srv.proc.pid))
        ids = [server_load.create_start_exec(srv, codebase_id)[0] for _ in range(args.sandboxes)]
        time.sleep(args.settle)
        kids = server_load.descendants(srv.proc.pid)
        total = server_load.pss_kib([srv.proc.pid] + kids)
        print(f"{len(ids)} idle sandboxes: {(total - base) / 1024 / len(ids):.2f} MB PSS each "
              "(server and every process it started, over the server alone)")
        by_command: dict[str, list[int]] = collections.defaultdict(list)
        for pid in kids:
            by_command[command_of(pid)].append(server_load.pss_kib([pid]))
        for command, sizes in sorted(by_command.items(), key=lambda item: -sum(item[1])):
            print(f"{len(sizes):5d} x {command:32s} {sum(sizes) / len(sizes) / 1024:6.2f} MB each")
    finally:
        srv.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
