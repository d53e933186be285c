"""Issue 9 item 8: `agentfense run` limits processes, memory and time by default.

Without flags a command used to get no limits at all (`for i in $(seq 600); do sleep 20 &
done` gave 601 processes). Defaults now: 1024 processes and threads, 4 GiB of memory
(half the RAM when that is less; the private /tmp gets half of the memory limit), 1800 s;
each flag raises the limit or removes it with 0.
"""

from __future__ import annotations

import os

import pytest

PY = "/usr/bin/python3"

# The loop, counted: forks until the kernel refuses (or 1100 children), then
# reports how many it got and kills them.
FORK_LOOP = (
    "import os, signal, time\n"
    "children = []\n"
    "for i in range(1100):\n"
    "    try:\n"
    "        pid = os.fork()\n"
    "    except OSError:\n"
    "        break\n"
    "    if pid == 0:\n"
    "        time.sleep(20); os._exit(0)\n"
    "    children.append(pid)\n"
    "print(len(children))\n"
    "for pid in children:\n"
    "    os.kill(pid, signal.SIGKILL)\n")

TMP_SIZE = "df -B1 --output=size /tmp | tail -n 1"


def half_ram_or_4g() -> int:
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return min(4 << 30, ram // 2)


def test_fork_loop_is_capped_by_default(runner, repo):
    result = runner.run(repo, [PY, "-c", FORK_LOOP])
    assert result.returncode == 0, result.describe()
    assert int(result.stdout) < 1024, result.describe()


def test_pids_zero_removes_the_cap(runner, repo):
    result = runner.run(repo, [PY, "-c", FORK_LOOP], ["--pids", "0"])
    assert int(result.stdout) == 1100, result.describe()


def test_pids_flag_sets_the_cap(runner, repo):
    result = runner.run(repo, [PY, "-c", FORK_LOOP], ["--pids", "50"])
    assert int(result.stdout) < 50, result.describe()


def test_memory_limit_by_default_sizes_the_private_tmp(runner, repo):
    assert int(runner.sh(repo, TMP_SIZE).stdout) == half_ram_or_4g() // 2


def test_memory_flag_sizes_the_private_tmp_and_a_full_tmp_is_enospc(runner, repo):
    result = runner.sh(repo, TMP_SIZE + "; head -c 40000000 /dev/zero > /tmp/big; echo rc=$?",
                       ["--memory", "64M"])
    assert result.stdout.split() == [str(32 << 20), "rc=1"], result.describe()
    assert "No space left on device" in result.stderr, result.describe()


def test_memory_zero_removes_the_limit(runner, repo):
    grab = [PY, "-c", "b = bytearray(300 * 1024 * 1024); print('allocated')"]
    assert runner.run(repo, grab, ["--memory", "0"]).stdout == "allocated\n"
    assert int(runner.sh(repo, TMP_SIZE, ["--memory", "0"]).stdout) != half_ram_or_4g() // 2


def test_help_states_the_defaults(runner):
    text = runner.invoke(["run", "--help"]).stdout
    for words in ("default 1800; 0 = never", "default 1024; 0 = unlimited",
                  "default 4G, or half the RAM if less; 0 = unlimited"):
        assert words in " ".join(text.split()), text


def test_bad_limits_are_usage_errors(runner, repo):
    for flags in (["--pids", "-1"], ["--memory", "lots"], ["--timeout", "-5"]):
        result = runner.invoke(["run", *flags, str(repo), "--", "true"])
        assert result.returncode == 2, result.describe()


@pytest.mark.parametrize("timeout", ["inf", "nan", "1e300", "31536001"])
def test_timeouts_out_of_range_are_refused_naming_the_flag(runner, repo, timeout):
    result = runner.invoke(["run", "--timeout", timeout, str(repo), "--", "true"])
    assert result.returncode == 2, result.describe()
    assert "--timeout" in result.stderr, result.describe()


@pytest.mark.parametrize("timeout", ["inf", "1e300"])
def test_mcp_refuses_an_unbounded_max_timeout(runner, repo, timeout):
    result = runner.invoke(["mcp", "--max-timeout", timeout, str(repo)])
    assert result.returncode == 2, result.describe()
    assert "--max-timeout" in result.stderr, result.describe()


def test_a_timeout_under_a_millisecond_still_kills(runner, repo):
    """0.0004 s truncated to 0 ms, which means "never": it is rounded up instead."""
    result = runner.sh(repo, "sleep 5; echo finished", ["--timeout", "0.0004"])
    assert result.returncode == 124, result.describe()
    assert "finished" not in result.stdout, result.describe()


def test_stderr_and_the_audit_trail_name_the_limit_that_was_hit(runner, repo, tmp_path):
    """A bare 137, or a fork that fails with EAGAIN, does not say a limit did it."""
    trail = tmp_path / "trail.jsonl"
    hungry = runner.run(repo, [PY, "-c", "b = bytearray(300 << 20)"],
                        ["--memory", "64M", "--audit", str(trail)])
    assert hungry.returncode == 137, hungry.describe()
    assert "the memory limit (67108864 bytes) killed a process of the command" in hungry.stderr
    forks = runner.run(repo, [PY, "-c", FORK_LOOP], ["--pids", "50", "--audit", str(trail)])
    assert forks.returncode == 0, forks.describe()
    assert "the pids limit (50) refused the command a new process" in forks.stderr
    calm = runner.run(repo, ["true"], ["--pids", "50", "--memory", "64M"])
    assert "limit" not in calm.stderr, calm.describe()
    import json
    execs = [json.loads(line) for line in trail.read_text().splitlines()]
    execs = [e for e in execs if e["op"] == "exec"]
    assert [(e["oom_killed"], e["pids_limit_reached"]) for e in execs] == [
        (True, False), (False, True)], execs
