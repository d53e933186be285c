"""The fs program a sandbox start execs (agentfense-fs) carries its third-party libraries
and libstdc++ inside it (cmake/af_dependencies.cmake): the dynamic loader resolving them
cost every start ~1.2 ms. Only glibc is loaded at run time."""

from __future__ import annotations

import os
import subprocess

import pytest

from server_harness import agentfense_bin

GLIBC = {"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"}


def needed(path: str) -> set[str]:
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True, check=True).stdout
    return {line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line}


def test_the_fs_program_needs_only_glibc():
    fs = os.path.join(os.path.dirname(os.path.realpath(agentfense_bin())), "agentfense-fs")
    libs = needed(fs)
    if any("asan" in lib or "ubsan" in lib for lib in libs):
        pytest.skip("sanitizer build: the shared libraries stay")
    assert libs <= GLIBC, sorted(libs - GLIBC)
