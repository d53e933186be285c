"""A small root filesystem for the Docker tests, made from this machine's own files: the
shells, coreutils and friends, Python 3 with its standard library, and every shared
library they load (found with ldd). No registry is reachable from the tests, so the
image is `docker import`ed from this tarball (dockerd.py)."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Packages whose programs the escape suite and the levels table run inside a sandbox.
PACKAGES = ["coreutils", "dash", "bash", "grep", "sed", "findutils", "util-linux", "mount",
            "procps", "diffutils", "mawk", "tar", "gzip", "python3.11-minimal",
            "libpython3.11-minimal", "libpython3.11-stdlib", "python3-minimal", "python3",
            "git"]
# Top-level symlinks of merged-/usr Debian.
USR_LINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
SKIP_PARTS = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/locale/", "/usr/share/info/",
              "/__pycache__/", "/test/", "/tests/", "/idlelib/", "/tkinter/", "/ensurepip/")
PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def _real(path: str) -> str:
    """The path with merged-/usr symlinked directories resolved, the name itself kept."""
    head, name = os.path.split(path)
    return os.path.join(os.path.realpath(head), name)


def _package_files(packages: list[str]) -> set[str]:
    listed = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True).stdout
    files = set()
    for line in listed.splitlines():
        if not line.startswith("/") or any(p in line + "/" for p in SKIP_PARTS):
            continue
        real = _real(line)
        if real.lstrip("/") in USR_LINKS:
            continue
        if os.path.islink(real) or os.path.isfile(real):
            files.add(real)
    return files


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


LOADER = "/lib64/ld-linux-x86-64.so.2"


def _needed(path: str) -> list[str]:
    """What the dynamic loader would load for `path` (as ldd prints it, without the
    shell script around it: ldd costs ~10x more per file)."""
    out = subprocess.run([LOADER, "--list", path], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        candidate = parts[2] if len(parts) > 2 and parts[1] == "=>" else parts[0]
        if candidate.startswith("/"):
            found.append(candidate)
    return found


def _libraries(files: set[str]) -> set[str]:
    """Every shared library (and the symlink naming it) the ELF files load."""
    elves = [p for p in sorted(files) if not os.path.islink(p) and _is_elf(p)]
    libs: set[str] = set()
    with ThreadPoolExecutor(max_workers=4) as pool:
        for needed in pool.map(_needed, elves):
            for candidate in needed:
                libs.add(_real(candidate))
                libs.add(os.path.realpath(candidate))
    return libs


def build_rootfs_tar(with_bash: bool = True, extra_dirs: dict[str, int] | None = None) -> bytes:
    """The test image's root filesystem; `extra_dirs` adds directories (relative name ->
    mode), as images that declare a VOLUME have them."""
    packages = PACKAGES if with_bash else [p for p in PACKAGES if p != "bash"]
    files = _package_files(packages)
    files |= _libraries(files)
    if not with_bash:
        files = {f for f in files if os.path.basename(f) not in ("bash", "rbash")}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def add_text(name: str, text: str) -> None:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))

        for name, target in USR_LINKS.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        for name, mode in (("tmp", 0o1777), ("workspace", 0o755), ("proc", 0o555),
                           ("sys", 0o555), ("dev", 0o755), ("etc", 0o755), ("run", 0o755),
                           ("root", 0o700), ("home", 0o755), ("usr", 0o755)):
            add_dir(name, mode)
        add_text("etc/passwd", PASSWD)
        add_text("etc/group", GROUP)
        add_text("etc/hostname", "agentfense\n")
        seen_dirs = {"tmp", "workspace", "proc", "sys", "dev", "etc", "run", "root", "home",
                     "usr"}

        def add_parents(rel: str) -> None:
            """The directories above `rel` not in the archive yet, top first."""
            parent, missing = os.path.dirname(rel), []
            while parent and parent not in seen_dirs:
                missing.append(parent)
                parent = os.path.dirname(parent)
            for d in reversed(missing):
                add_dir(d)
                seen_dirs.add(d)

        for path in sorted(files):
            rel = path.lstrip("/")
            add_parents(rel)
            info = tar.gettarinfo(path, arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
        for name, mode in (extra_dirs or {}).items():
            add_parents(name)
            add_dir(name, mode)
            seen_dirs.add(name)
    return buffer.getvalue()


if __name__ == "__main__":
    data = build_rootfs_tar()
    Path("/tmp/af-rootfs.tar").write_bytes(data)
    print(len(data))
