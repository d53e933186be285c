#!/usr/bin/env python3
"""REST round trips of two builds in one run: the median of 1,000 `GET /v1/codebases` on
one kept-alive connection, and a 32 MiB upload and download, each build's server started
over a fresh data directory, the builds alternated --rounds times.

    python3 bench/rest_latency.py OLD/agentfense NEW/agentfense [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "server_integration"))
from server_harness import serving  # noqa: E402

PAYLOAD = b"x" * (32 << 20)


def measure(binary: str) -> tuple[float, float, float]:
    os.environ["AGENTFENSE_BIN"] = binary
    for server in serving("af-rest-bench-"):
        with requests.Session() as session:
            session.trust_env = False
            for _ in range(50):
                session.get(f"{server.http}/v1/codebases")
            times = []
            for _ in range(1000):
                started = time.perf_counter()
                session.get(f"{server.http}/v1/codebases").raise_for_status()
                times.append(time.perf_counter() - started)
            codebase = session.post(f"{server.http}/v1/codebases", json={"name": "b"}).json()["id"]
            url = f"{server.http}/v1/codebases/{codebase}/content/big.bin"
            started = time.perf_counter()
            session.put(url, data=PAYLOAD).raise_for_status()
            upload = time.perf_counter() - started
            started = time.perf_counter()
            assert len(session.get(url).content) == len(PAYLOAD)
            download = time.perf_counter() - started
        return statistics.median(times) * 1e3, upload, download
    raise RuntimeError("the server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for round_number in range(1, args.rounds + 1):
        for label, binary in (("OLD", args.old), ("NEW", args.new)):
            get, up, down = measure(binary)
            print(f"round {round_number} {label}: GET median {get:.2f} ms, "
                  f"32 MiB upload {up:.3f} s, download {down:.3f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
