#!/usr/bin/env python3
"""Server load test: N running sandboxes over ONE codebase with commands in flight,
driven through the real gRPC API on loopback. Prints latency percentiles for
create+start+first exec and for session exec (against a native `sh -c true`), and the
memory each idle sandbox costs (server + its fs process), then checks nothing leaked.

    python3 bench/server_load.py [--sandboxes 200] [--workers 4] [--mode plain|auth-tls]
    python3 bench/server_load.py --compare [--rounds 40]
    python3 bench/server_load.py --exec-compare OLD/agentfense NEW/agentfense [--rounds 40]

--mode auth-tls runs the same load against a server with TLS on both ports and API keys
required (a user principal, so every call is authenticated and scoped). --compare runs a
plain and an auth+TLS server side by side and alternates the same calls between them
(create+start+first exec, session exec), so both see the same machine load, and prints
the latency auth+TLS adds. --exec-compare runs two builds side by side and alternates
exec `true` on a running sandbox, create+start+first exec `true` and session exec `true`
between them (same machine load), printing medians for each.
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "server_integration"))
from pki import make_pki  # noqa: E402
from server_harness import AGENT_SAFE, Server, cb, descendants, mounts_under, sb, upload  # noqa: E402
from tenants import add_key  # noqa: E402


def pss_kib(pids: list[int]) -> int:
    """Proportional set size: each shared page (the binary, libc, libfuse) is divided
    among the processes mapping it, so the sum is the memory they really cost."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def rss_kib(pids: list[int]) -> int:
    """Resident set size, shared pages counted in every process (an upper bound)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(name: str, ms: list[float]) -> str:
    return (f"{name:<34} n={len(ms):<4} p50={statistics.median(ms):7.1f} ms  "
            f"p90={pct(ms, 90):7.1f} ms  p99={pct(ms, 99):7.1f} ms  "
            f"range {min(ms):.1f}-{max(ms):.1f} ms")


def create_start_exec(srv: Server, codebase_id: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    s = srv.sandboxes.CreateSandbox(sb.CreateSandboxRequest(codebase_id=codebase_id, permissions=AGENT_SAFE))
    srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=s.id))
    r = srv.sandboxes.Exec(sb.ExecRequest(sandbox_id=s.id, command="cat README.md"))
    assert r.exit_code == 0, r.stderr
    return s.id, (time.perf_counter() - t0) * 1000


def start_server(data_dir: str, mode: str, max_per_user: int) -> Server:
    """A plain loopback server, or one with TLS and API keys whose harness stubs act as a
    user principal (owner "load")."""
    config = f"sandbox:\n  max_per_user: {max_per_user}\n"
    if mode == "plain":
        return Server(data_dir, config=config).start()
    pki = make_pki(Path(data_dir) / "pki")
    cert, key = pki.issue("server", "localhost", server=True)
    keys_file = Path(data_dir) / "keys.yaml"
    api_key = add_key(keys_file, "load", ["load"])
    config += (f"server:\n  tls:\n    cert: {cert}\n    key: {key}\n"
               f"auth:\n  keys_file: {keys_file}\n")
    return Server(data_dir, config=config, ca_path=str(pki.ca_cert), api_key=api_key).start()


def load_codebase(srv: Server) -> str:
    codebase = srv.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="load", owner_id="load"))
    upload(srv, codebase.id, "README.md", b"hello\n")
    upload(srv, codebase.id, "output/.keep", b"")
    for i in range(50):
        upload(srv, codebase.id, f"src/m{i}.py", b"x = 1\n" * 100)
    return codebase.id


def session_exec_ms(srv: Server, session_id: str) -> float:
    t0 = time.perf_counter()
    srv.sandboxes.SessionExec(sb.SessionExecRequest(session_id=session_id, command="true"))
    return (time.perf_counter() - t0) * 1000


def compare(rounds: int) -> int:
    """The same calls alternated between a plain and an auth+TLS server."""
    dirs = {mode: tempfile.mkdtemp(prefix=f"af-load-{mode}-") for mode in ("plain", "auth-tls")}
    servers = {mode: start_server(d, mode, rounds + 10) for mode, d in dirs.items()}
    try:
        codebases = {mode: load_codebase(srv) for mode, srv in servers.items()}
        created = {mode: [] for mode in servers}
        ids = {mode: [] for mode in servers}
        for _ in range(rounds):
            for mode, srv in servers.items():
                sandbox_id, ms = create_start_exec(srv, codebases[mode])
                ids[mode].append(sandbox_id)
                created[mode].append(ms)
        sessions = {mode: srv.sandboxes.CreateSession(
            sb.CreateSessionRequest(sandbox_id=ids[mode][0])).id for mode, srv in servers.items()}
        execs = {mode: [] for mode in servers}
        for _ in range(rounds * 5):
            for mode, srv in servers.items():
                execs[mode].append(session_exec_ms(srv, sessions[mode]))
        for mode in servers:
            print(summary(f"create+start+first exec, {mode}", created[mode]))
        for mode in servers:
            print(summary(f"session exec `true`, {mode}", execs[mode]))
        for name, samples in (("create+start+first exec", created), ("session exec", execs)):
            plain, secure = statistics.median(samples["plain"]), statistics.median(samples["auth-tls"])
            print(f"auth+TLS adds to {name}: {secure - plain:+.2f} ms median "
                  f"({(secure / plain - 1) * 100:+.1f}%)")
        for mode, srv in servers.items():
            for sandbox_id in ids[mode]:
                srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    finally:
        codes = {mode: srv.stop() for mode, srv in servers.items()}
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)
    print("nothing leaked (mounts, processes); server exit statuses", codes)
    return 0


def exec_compare(programs: list[str], rounds: int) -> int:
    """Two builds of `agentfense`, one server each, the same calls alternated."""
    dirs = [tempfile.mkdtemp(prefix="af-exec-") for _ in programs]
    servers = [Server(d, config=f"sandbox:\n  max_per_user: {rounds + 10}\n", program=p).start()
               for d, p in zip(dirs, programs)]
    names = [f"{i}:{p}" for i, p in enumerate(programs)]
    try:
        codebases = [load_codebase(srv) for srv in servers]
        running = []
        for srv, c in zip(servers, codebases):
            s = srv.sandboxes.CreateSandbox(sb.CreateSandboxRequest(codebase_id=c, permissions=AGENT_SAFE))
            srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=s.id))
            running.append(s.id)
        sessions = [srv.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=i)).id
                    for srv, i in zip(servers, running)]
        samples = {k: [[] for _ in servers] for k in ("exec", "first", "session")}
        created = [[] for _ in servers]
        for n in range(rounds):
            for i, srv in enumerate(servers):
                for _ in range(3):
                    t0 = time.perf_counter()
                    r = srv.sandboxes.Exec(sb.ExecRequest(sandbox_id=running[i], command="true"))
                    samples["exec"][i].append((time.perf_counter() - t0) * 1000)
                    assert r.exit_code == 0, r.stderr
                t0 = time.perf_counter()
                s = srv.sandboxes.CreateSandbox(sb.CreateSandboxRequest(codebase_id=codebases[i],
                                                                         permissions=AGENT_SAFE))
                srv.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=s.id))
                r = srv.sandboxes.Exec(sb.ExecRequest(sandbox_id=s.id, command="true"))
                samples["first"][i].append((time.perf_counter() - t0) * 1000)
                assert r.exit_code == 0, r.stderr
                created[i].append(s.id)
                samples["session"][i].append(session_exec_ms(srv, sessions[i]))
            time.sleep(0.05 if n % 2 else 0.5)  # some calls after an idle pause, as agents make them
        for key, title in (("exec", "exec `true`, running sandbox"),
                           ("first", "create+start+first exec `true`"),
                           ("session", "session exec `true`")):
            for i in range(len(servers)):
                print(summary(f"{title} [{i}]", samples[key][i]))
        for i, name in enumerate(names):
            print(f"[{i}] = {name}")
        for i, srv in enumerate(servers):
            for sandbox_id in created[i] + [running[i]]:
                srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    finally:
        codes = [srv.stop() for srv in servers]
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    print("nothing leaked (mounts, processes); server exit statuses", codes)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sandboxes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--mode", choices=("plain", "auth-tls"), default="plain")
    parser.add_argument("--compare", action="store_true",
                        help="plain vs auth+TLS, alternating the same calls")
    parser.add_argument("--rounds", type=int, default=40, help="with --compare / --exec-compare")
    parser.add_argument("--exec-compare", nargs="+", metavar="AGENTFENSE",
                        help="builds of agentfense to compare on exec latency")
    args = parser.parse_args()
    if args.exec_compare:
        return exec_compare(args.exec_compare, args.rounds)
    if args.compare:
        return compare(args.rounds)
    data_dir = tempfile.mkdtemp(prefix="af-load-")
    srv = start_server(data_dir, args.mode, args.sandboxes + 10)
    try:
        codebase_id = load_codebase(srv)
        base_kib = pss_kib([srv.proc.pid] + descendants(srv.proc.pid))

        # 1. create + start + first exec, sequential (the latency a client sees).
        ids, sequential, first = [], [], []
        for _ in range(20):
            sandbox_id, ms = create_start_exec(srv, codebase_id)
            ids.append(sandbox_id)
            sequential.append(ms)
        # 2. ramp up to N running sandboxes, several clients at once.
        with futures.ThreadPoolExecutor(args.workers) as pool:
            for sandbox_id, ms in pool.map(lambda _: create_start_exec(srv, codebase_id),
                                           range(args.sandboxes - len(ids))):
                ids.append(sandbox_id)
                first.append(ms)
        time.sleep(1)
        kids = descendants(srv.proc.pid)
        idle_kib = pss_kib([srv.proc.pid] + kids)
        idle_rss_mb = (rss_kib(kids) / len(kids)) / 1024
        per_sandbox_mb = (idle_kib - base_kib) / 1024 / len(ids)
        # 3. commands in flight on every sandbox at once.
        with futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda i: srv.sandboxes.Exec(sb.ExecRequest(
                sandbox_id=i, command="grep -r x src | wc -l; echo out > output/o.txt")), ids))
        bad = [r for r in results if r.exit_code != 0 or r.stdout.strip() != "5000"]
        assert not bad, f"{len(bad)} commands lost output, e.g. {bad[0]}"
        # 4. session exec overhead vs native.
        session = srv.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=ids[0]))
        sess = []
        for _ in range(50):
            t0 = time.perf_counter()
            srv.sandboxes.SessionExec(sb.SessionExecRequest(session_id=session.id, command="true"))
            sess.append((time.perf_counter() - t0) * 1000)
        native = []
        for _ in range(50):
            t0 = time.perf_counter()
            subprocess.run(["sh", "-c", "true"], check=True)
            native.append((time.perf_counter() - t0) * 1000)
        print(f"mode: {args.mode}; sandboxes running: {len(ids)} on one codebase; "
              f"fs processes: {len(kids)}")
        print(summary("create+start+first exec, 1 client", sequential))
        print(summary(f"... {args.workers} clients at once", first))
        print(summary("session exec `true` (gRPC)", sess))
        print(summary("native sh -c true", native))
        print(f"session exec overhead over native: {statistics.median(sess) - statistics.median(native):.1f} ms median")
        print(f"memory per idle sandbox (server + fs process, PSS): {per_sandbox_mb:.2f} MB")
        print(f"fs process RSS, shared pages counted in each: {idle_rss_mb:.2f} MB")
        print(f"commands in flight at once on {len(ids)} sandboxes: {len(results)} completed, none lost")
        for sandbox_id in ids:
            srv.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
        left = mounts_under(data_dir)
        assert not left, f"mounts left after destroying every sandbox: {left[:3]}"
    finally:
        code = srv.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print("nothing leaked (mounts, processes); server exit status", code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
