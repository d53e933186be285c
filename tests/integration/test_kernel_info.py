"""Issue 9 item 12: kernel information an agent does not need stays out of reach.

The boot command line, the kernel's build configuration, symbol addresses and the usual
masked /proc set are covered (opening them fails), hardware detail directories are
empty, and AF_VSOCK sockets (a channel to the hypervisor that no network namespace
covers) are an unknown address family. `df` and `findmnt` keep working: mountinfo is not
masked (see docs/security.md for why its user_id= is harmless).
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The levels table and the escape suite run on both runtimes (conftest.py).
RUNTIMES = ("bwrap", "docker")

PY = "/usr/bin/python3"

MASKED_FILES = ["/proc/cmdline", "/proc/config.gz", "/proc/kallsyms", "/proc/kcore",
                "/proc/keys", "/proc/key-users", "/proc/timer_list", "/proc/sched_debug",
                "/proc/sysrq-trigger", "/proc/iomem", "/proc/ioports", "/proc/vmallocinfo",
                "/proc/slabinfo", "/proc/modules", "/proc/latency_stats"]


def present_on_host(paths: list[str]) -> list[str]:
    return [path for path in paths if Path(path).exists()]


def test_kernel_information_files_are_masked(attack):
    files = present_on_host(MASKED_FILES)
    assert "/proc/cmdline" in files and "/proc/kallsyms" in files
    result = attack([PY, "-c",
                     "import sys\n"
                     "for path in sys.argv[1:]:\n"
                     "    try:\n"
                     "        with open(path, 'rb') as f: print(path, len(f.read(4096)))\n"
                     "    except OSError as e: print(path, 'denied')\n", *files])
    lines = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())
    leaked = {path: n for path, n in lines.items() if n not in ("denied", "0")}
    assert not leaked, result.describe()
    assert set(lines) == set(files), result.describe()


def test_proc_cmdline_as_the_issue_reads_it(attack):
    result = attack("cat /proc/cmdline; zcat /proc/config.gz | head -3; head -3 /proc/kallsyms; "
                    "true")
    assert result.stdout == "", result.describe()


@pytest.mark.parametrize("directory", ["/proc/acpi", "/proc/scsi", "/proc/bus", "/proc/irq",
                                       "/proc/driver", "/proc/asound"])
def test_hardware_directories_are_empty_and_read_only(attack, directory):
    if not Path(directory).exists():
        pytest.skip(f"{directory} does not exist on this kernel")
    result = attack(f"ls -A {directory}; touch {directory}/x 2>/dev/null || echo refused")
    assert result.stdout.strip().splitlines()[-1] == "refused", result.describe()
    assert len(result.stdout.strip().splitlines()) == 1, result.describe()


def test_vsock_is_an_unknown_address_family(attack):
    result = attack([PY, "-c",
                     "import socket, errno\n"
                     "try:\n"
                     "    socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM); print('created')\n"
                     "except OSError as e: print(errno.errorcode[e.errno])\n"])
    assert result.stdout == "EAFNOSUPPORT\n", result.describe()


def test_proc_sys_is_not_writable(attack):
    result = attack("for f in /proc/sys/kernel/hostname /proc/sys/vm/drop_caches "
                    "/proc/sys/kernel/ns_last_pid; do echo 1 > $f && echo wrote $f; done; true")
    assert "wrote" not in result.stdout, result.describe()


def test_df_and_findmnt_still_work(attack):
    result = attack("df -P /workspace /tmp >/dev/null && echo df-ok; "
                    "findmnt -n -o TARGET /workspace && echo findmnt-ok")
    assert result.stdout.split() == ["df-ok", "/workspace", "findmnt-ok"], result.describe()
