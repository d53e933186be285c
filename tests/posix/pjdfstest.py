"""Runs pjdfstest (an outside POSIX conformance suite) over `agentfense mount`.

The suite is built from the unmodified copy in ../shared/third_party/pjdfstest, run as
root in a writable (`full-access`) mount, and every failing subtest is compared with
expected_failures.txt: a failure that is not listed fails the run, and so does a listed
one that now passes (the list may only shrink, and must say so when it does).

    python3 tests/posix/pjdfstest.py            # run and compare
    python3 tests/posix/pjdfstest.py --update   # rewrite the list after a fix (shrink only)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SOURCE = REPO.parent / "shared" / "third_party" / "pjdfstest"
EXPECTED = HERE / "expected_failures.txt"
# One test file runs for seconds at most; a hang is a bug worth a clear failure.
FILE_TIMEOUT_SECONDS = 600


def agentfense_bin() -> str:
    return os.environ.get("AGENTFENSE_BIN", str(REPO / "build" / "agentfense"))


def build(work: Path) -> Path:
    """Builds pjdfstest out of a copy of the source (the shared tree stays read-only)."""
    tree = work / "pjdfstest"
    shutil.copytree(SOURCE, tree)
    for argv in (["autoreconf", "-ifs"], ["./configure", "-q"], ["make", "-s", "pjdfstest"]):
        subprocess.run(argv, cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return tree


def parse_ranges(text: str) -> set[int]:
    numbers: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        numbers.update(range(int(low), int(high or low) + 1))
    return numbers


def format_ranges(numbers: set[int]) -> str:
    parts, ordered = [], sorted(numbers)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def read_expected() -> dict[str, tuple[set[int], str]]:
    """file -> (failing subtests, why). Lines: `FILE RANGES WHY...`; # starts a comment."""
    expected: dict[str, tuple[set[int], str]] = {}
    for line in EXPECTED.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, ranges, *why = line.split()
        expected[name] = (parse_ranges(ranges), " ".join(why))
    return expected


# "not ok N # TODO ..." is a known failure pjdfstest itself expects on this OS: not ours.
NOT_OK = re.compile(r"^not ok (\d+)(?!.*# TODO)")
TODO = re.compile(r"^not ok (\d+).*# TODO")
OK = re.compile(r"^ok (\d+)")
PLAN = re.compile(r"^1\.\.(\d+)")


def run_file(tests: Path, name: str, cwd: Path) -> tuple[str, set[int], str]:
    """Runs one .t file in its own directory of the mount; returns its failing subtests.

    A subtest that never reported (the plan says N, fewer lines came) counts as failed.
    """
    workdir = cwd / name.replace("/", "_")
    workdir.mkdir()
    proc = subprocess.run(["sh", str(tests / name)], cwd=workdir, capture_output=True,
                          text=True, timeout=FILE_TIMEOUT_SECONDS)
    failed, seen, planned = set(), set(), 0
    for line in proc.stdout.splitlines():
        if m := PLAN.match(line):
            planned = int(m.group(1))
        elif m := NOT_OK.match(line):
            failed.add(int(m.group(1)))
            seen.add(int(m.group(1)))
        elif (m := OK.match(line)) or (m := TODO.match(line)):
            seen.add(int(m.group(1)))
    failed |= set(range(1, planned + 1)) - seen
    if planned == 0:
        failed.add(0)  # no plan at all: the file itself broke
    return name, failed, proc.stdout


class Mount:
    """`agentfense mount --preset full-access` over an empty directory, unmounted at exit."""

    def __init__(self, work: Path):
        self.source, self.point = work / "src", work / "mnt"
        self.source.mkdir()
        self.point.mkdir()
        self.log = open(work / "mount.log", "w")
        self.proc = subprocess.Popen(
            [agentfense_bin(), "mount", "--shared", "--preset", "full-access", str(self.source),
             str(self.point)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.point):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"agentfense mount did not come up; see {self.log.name}")
            time.sleep(0.05)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        finally:
            if os.path.ismount(self.point):
                subprocess.run(["fusermount3", "-u", "-z", str(self.point)], check=False)
            self.log.close()


def run_suite(work: Path, jobs: int) -> dict[str, set[int]]:
    tests = build(work) / "tests"
    names = sorted(str(p.relative_to(tests)) for p in tests.rglob("*.t"))
    mount = Mount(work)
    try:
        results: dict[str, set[int]] = {}
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            for name, failed, _ in pool.map(lambda n: run_file(tests, n, mount.point), names):
                results[name] = failed
        return results
    finally:
        mount.close()


def compare(results: dict[str, set[int]], expected: dict[str, tuple[set[int], str]]) -> list[str]:
    problems = []
    for name, failed in sorted(results.items()):
        listed = expected.get(name, (set(), ""))[0]
        if new := failed - listed:
            problems.append(f"{name}: new failures {format_ranges(new)}")
        if fixed := listed - failed:
            problems.append(f"{name}: now passes {format_ranges(fixed)}; remove it from "
                            f"{EXPECTED.name} (run with --update)")
    for name in sorted(set(expected) - set(results)):
        problems.append(f"{name}: listed in {EXPECTED.name} but no such test file")
    return problems


def update(results: dict[str, set[int]], expected: dict[str, tuple[set[int], str]]) -> None:
    """Rewrites the list with what still fails; refuses to add failures (fix them)."""
    grown = [f"{n}: {format_ranges(f - expected.get(n, (set(), ''))[0])}"
             for n, f in results.items() if f - expected.get(n, (set(), ""))[0]]
    if grown:
        raise SystemExit("refusing to grow the expected-failure list:\n" + "\n".join(grown))
    header = [l for l in EXPECTED.read_text().splitlines() if l.startswith("#")]
    body = [f"{n} {format_ranges(f)} {expected[n][1]}".rstrip()
            for n, f in sorted(results.items()) if f]
    EXPECTED.write_text("\n".join(header + body) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="af-pjdfstest-") as tmp:
        results = run_suite(Path(tmp), args.jobs)
    expected = read_expected()
    total = sum(len(f) for f in results.values())
    files = sum(1 for f in results.values() if f)
    print(f"pjdfstest over agentfense mount: {files} of {len(results)} files, "
          f"{total} subtests fail (all expected unless listed below)")
    if args.update:
        update(results, expected)
        return 0
    problems = compare(results, expected)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
