"""The input tree of write_bench.py and git_bench.py, generated once (fixed seeds) and
reused while its stamp matches:

  bench.tar     5,000 files of 1-8 KiB in 250 directories (tar -x, rm -rf)
  src/          ~3,000 source-like files in ~375 directories, ~12 MB (cp -r)
  repo/         a git repository: ~3,000 files, 11 commits (git commit, status, diff, log -p)
  cproj/        50 C files and a header (a compile writing objects)
  npm/          100 package tarballs of 50 files in 5 directories each (npm-style install)
  inserts.sql   20,000 INSERTs in transactions of 100 (sqlite3)
  creates.py    writes 10,000 files of 1 KiB in 100 directories under its argument
  saves.py      saves 1,000 files atomically (write a temporary file, rename it over)
  out/          empty: the sandbox's writable working directory
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from run_bench import generate_tree, git

TREE_VERSION = "w3"
REPO_FILES = 3000


def source_tree(root: Path, files: int) -> None:
    """run_bench's generator without its multi-MB data files: a plain source tree."""
    generate_tree(root, files)
    for blob in root.rglob("data_*.log"):
        blob.unlink()


def bench_tar(root: Path) -> None:
    rng = random.Random(7)
    with tarfile.open(root / "bench.tar", "w") as tar:
        for n in range(5000):
            data = rng.randbytes(rng.randint(1024, 8192))
            info = tarfile.TarInfo(f"tree/d{n % 250}/f{n}.txt")
            info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
            tar.addfile(info, io.BytesIO(data))


def repository(repo: Path, home: Path) -> None:
    """A committed tree, then 10 commits of 100 edited files each (for diff and log -p)."""
    source_tree(repo, REPO_FILES)
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    git(repo, home, "init", "-q")
    git(repo, home, "add", "-A")
    git(repo, home, *ident, "commit", "-q", "-m", "initial")
    files = sorted(p for p in repo.rglob("*.py") if ".git" not in p.parts)
    rng = random.Random(11)
    for n in range(10):
        for path in rng.sample(files, 100):
            with path.open("a") as out:
                out.write(f"    history_{n} = {rng.randint(0, 1 << 30)}\n")
        git(repo, home, *ident, "commit", "-q", "-a", "-m", f"change {n}")


def c_project(root: Path) -> None:
    rng = random.Random(5)
    root.mkdir()
    (root / "common.h").write_text(
        "#include <stdint.h>\n#include <string.h>\n#include <stdio.h>\n"
        "uint64_t mix(uint64_t a, uint64_t b);\n")
    for n in range(50):
        funcs = []
        for f in range(20):
            k = rng.randint(3, 97)
            funcs.append(
                f"uint64_t f{n}_{f}(const char *s, uint64_t seed) {{\n"
                f"  uint64_t h = seed ^ {rng.getrandbits(48)}u;\n"
                f"  for (size_t i = 0; i < strlen(s); i++) h = mix(h * {k}u, (uint64_t)s[i]);\n"
                f"  if (h % {k}u == 0) printf(\"%llu\\n\", (unsigned long long)h);\n"
                f"  return h;\n}}\n")
        body = "".join(funcs)
        if n == 0:
            body += ("uint64_t mix(uint64_t a, uint64_t b) {\n"
                     "  return (a ^ b) * 0x9E3779B97F4A7C15u;\n}\n"
                     "int main(void) { return (int)(mix(1, 2) & 1); }\n")
        (root / f"unit{n}.c").write_text('#include "common.h"\n' + body)


def npm_packages(root: Path) -> None:
    """Tarballs laid out as npm packs them (package/...), 5 directories of 10 files each."""
    rng = random.Random(3)
    root.mkdir()
    for p in range(100):
        with tarfile.open(root / f"pkg{p}.tgz", "w:gz") as tar:
            for d in ("lib", "dist", "src", "types", "test"):
                for f in range(10):
                    data = rng.randbytes(rng.randint(200, 4000))
                    info = tarfile.TarInfo(f"package/{d}/file{f}.js")
                    info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
                    tar.addfile(info, io.BytesIO(data))


def inserts(path: Path) -> None:
    with path.open("w") as out:
        out.write("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, value INTEGER);\n")
        for txn in range(200):
            out.write("BEGIN;\n")
            for row in range(100):
                n = txn * 100 + row
                name = f"row-{n}-{n * 7919 % 10007}"
                out.write(f"INSERT INTO t (name, value) VALUES ('{name}', {n});\n")
            out.write("COMMIT;\n")


CREATES = """import os, sys
data = b"x" * 1024
for d in range(100):
    os.makedirs(f"{sys.argv[1]}/d{d}")
    for f in range(100):
        with open(f"{sys.argv[1]}/d{d}/f{f}", "wb") as out:
            out.write(data)
"""

# argv: directory, "prep" (create the files) or "run" (save each over itself once).
SAVES = """import os, sys
root, mode = sys.argv[1], sys.argv[2]
os.makedirs(root, exist_ok=True)
for n in range(1000):
    path = f"{root}/file{n}.py"
    with open(path + ".tmp" if mode == "run" else path, "w") as out:
        out.write(f"value = {n}\\n" * 40)
    if mode == "run":
        os.replace(path + ".tmp", path)
"""


def ensure_write_tree(tree: Path, home: Path) -> None:
    """Without git, no repo/ (the git rows are skipped); installing git later rebuilds."""
    has_git = shutil.which("git", path="/usr/bin:/bin") is not None
    wanted = f"{TREE_VERSION} git={has_git}"
    stamp = tree / ".bench-stamp"
    if stamp.exists() and stamp.read_text() == wanted:
        print(f"reusing tree {tree}", file=sys.stderr)
        return
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    started = time.monotonic()
    bench_tar(tree)
    source_tree(tree / "src", 3000)
    if has_git:
        repository(tree / "repo", home)
    c_project(tree / "cproj")
    npm_packages(tree / "npm")
    inserts(tree / "inserts.sql")
    (tree / "creates.py").write_text(CREATES)
    (tree / "saves.py").write_text(SAVES)
    (tree / "out").mkdir()
    subprocess.run(["chmod", "-R", "a+rX", str(tree)], check=True)
    stamp.write_text(wanted)
    print(f"generated {tree} in {time.monotonic() - started:.1f}s", file=sys.stderr)
