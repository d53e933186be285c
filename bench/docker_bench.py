#!/usr/bin/env python3
"""Docker runtime costs (issue 12), through the real server and a real dockerd:

- create + start + first exec of a docker sandbox (CreateSandbox, StartSandbox, Exec
  `true`), against a bare `docker run --rm IMAGE true`;
- exec `true` in a running docker sandbox, against a bare `docker exec CONTAINER true`;
- session exec `true`, docker and bwrap;
- the same for bwrap sandboxes, for comparison.

It starts a private dockerd and imports the test image (tests/docker), unless --docker-host
names a running one that has --image. Medians (and p90) of --runs runs each.

    python3 bench/docker_bench.py [--runs 30] [--bin build/agentfense]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "server_integration"))
sys.path.insert(0, str(ROOT / "tests" / "docker"))
from server_harness import AGENT_SAFE, Server, cb, common, sb, upload  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def row(name: str, ms: list[float]) -> str:
    return f"| {name} | {statistics.median(ms):.1f} | {pct(ms, 90):.1f} | {len(ms)} |"


def sandbox_rows(srv: Server, codebase: str, runs: int, runtime: str, image: str) -> list[str]:
    kw = {"runtime": common.RUNTIME_TYPE_DOCKER, "image": image} if runtime == "docker" else {
        "runtime": common.RUNTIME_TYPE_BWRAP}

    def create_start_exec() -> str:
        sandbox = srv.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
            codebase_id=codebase, permissions=AGENT_SAFE, **kw))
        srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox.id))
        result = srv.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox.id, command="true"))
        assert result.exit_code == 0, result
        return sandbox.id

    startup, ids = [], []
    for _ in range(runs):
        start = time.perf_counter()
        ids.append(create_start_exec())
        startup.append((time.perf_counter() - start) * 1000)
    sandbox_id = ids[-1]
    execs = [timed(lambda: srv.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox_id,
                                                             command="true")))
             for _ in range(runs)]
    session = srv.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox_id)).id
    session_execs = [timed(lambda: srv.sandboxes.SessionExec(sb.SessionExecRequest(
        session_id=session, command="true"))) for _ in range(max(runs, 100))]
    for sandbox in ids:
        srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))
    return [row(f"{runtime}: create + start + first exec `true`", startup),
            row(f"{runtime}: exec `true`", execs),
            row(f"{runtime}: session exec `true`", session_execs)]


def docker_cli_rows(host: str, image: str, runs: int) -> list[str]:
    cli = shutil.which("docker", path="/usr/bin:/usr/local/bin")
    if not cli:
        return []
    env = {"DOCKER_HOST": host, "PATH": "/usr/bin:/bin"}

    def docker(*args: str) -> None:
        subprocess.run([cli, *args], env=env, check=True, stdout=subprocess.DEVNULL)

    runs_ms = [timed(lambda: docker("run", "--rm", "--network", "none", image, "true"))
               for _ in range(runs)]
    name = f"agentfense-bench-{os.getpid()}"
    docker("run", "-d", "--name", name, "--network", "none", "--entrypoint", "/bin/sh", image,
           "-c", "sleep 3600")
    try:
        execs = [timed(lambda: docker("exec", name, "true")) for _ in range(runs)]
    finally:
        docker("rm", "-f", name)
    return [row("bare `docker run --rm IMAGE true` (CLI)", runs_ms),
            row("bare `docker exec CONTAINER true` (CLI)", execs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--bin", default=os.environ.get("AGENTFENSE_BIN",
                                                        str(ROOT / "build" / "agentfense")))
    parser.add_argument("--docker-host", help="use this dockerd instead of a private one")
    parser.add_argument("--image", default="agentfense-test:latest")
    parser.add_argument("--out", type=Path, help="append the markdown table to this file")
    args = parser.parse_args()
    os.environ["AGENTFENSE_BIN"] = args.bin

    daemon = None
    host = args.docker_host
    if not host:
        from dockerd import Dockerd
        daemon = Dockerd().start()
        daemon.import_image(args.image)
        host = daemon.host
    data_dir = tempfile.mkdtemp(prefix="af-docker-bench-")
    srv = Server(data_dir, config=f"runtime:\n  docker:\n    host: {host}\n").start()
    try:
        codebase = srv.codebases.CreateCodebase(cb.CreateCodebaseRequest(
            name="bench", owner_id="bench")).id
        upload(srv, codebase, "README.md", b"# bench\n")
        lines = [f"### docker runtime ({args.runs} runs, {time.strftime('%Y-%m-%d %H:%M')})", "",
                 "| what | median ms | p90 ms | n |", "|---|---:|---:|---:|"]
        lines += sandbox_rows(srv, codebase, args.runs, "docker", args.image)
        lines += sandbox_rows(srv, codebase, args.runs, "bwrap", args.image)
        lines += docker_cli_rows(host, args.image, args.runs)
    finally:
        srv.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        if daemon:
            daemon.stop()
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        with open(args.out, "a") as out:
            out.write(table + "\n")


if __name__ == "__main__":
    main()
