"""Issue 9 item 4, disk exhaustion: with no quota, `dd if=/dev/zero` inside a sandbox
filled the host disk through the write layer (a memory limit does not stop it). Writes
must stop at the sandbox's write quota with ENOSPC ("No space left on device"), the
sandbox must keep working, deleting must free the quota, and `df` inside must show the
quota rather than the host disk.

Attacks go through the `attack` fixture (conftest.py): no secret in any output, nothing
outside /output changed on the host. Changes are discarded so the test leaves the
repository as it was.
"""

import re

import pytest

MIB = 1024 * 1024


def field(result, name: str) -> int:
    match = re.search(rf"\b{name}=(\d+)\b", result.stdout)
    assert match, f"no {name}= in the output\n{result.describe()}"
    return int(match[1])


def test_dd_of_a_gigabyte_stops_at_the_quota(attack):
    # The command, under a 64 MiB quota.
    result = attack(
        "dd if=/dev/zero of=/workspace/output/big bs=1M count=1024; echo dd=$?; "
        "stat -c 'size=%s allocated=%b' /workspace/output/big; "
        "ls /workspace/src >/dev/null && echo alive",
        ["--disk", "64M", "--memory", "64M"], changes="discard")
    assert "No space left on device" in result.stderr, result.describe()
    assert field(result, "dd") != 0, result.describe()
    size = field(result, "size")
    assert 60 * MIB <= size <= 64 * MIB, result.describe()
    # What the host disk paid for the file: no more than the quota.
    assert field(result, "allocated") * 512 <= 64 * MIB + 64 * 1024, result.describe()
    assert "alive" in result.stdout, result.describe()


def test_a_full_write_layer_frees_up_when_files_are_removed(attack):
    result = attack(
        "cd /workspace/output; dd if=/dev/zero of=big bs=1M count=100 2>/dev/null; "
        "echo full=$?; echo x > small; echo small=$?; rm big; "
        "dd if=/dev/zero of=again bs=1M count=32 2>/dev/null; echo again=$?",
        ["--disk", "48M"], changes="discard")
    assert field(result, "full") != 0, result.describe()
    assert field(result, "small") != 0, result.describe()
    assert field(result, "again") == 0, result.describe()


def test_an_inode_flood_hits_the_inode_limit(attack):
    result = attack(
        "cd /workspace/output; i=0; while [ $i -lt 5000 ]; do touch f$i || break; "
        "i=$((i+1)); done; echo created=$i; mkdir d; echo mkdir=$?; ln -s f1 s; echo ln=$?; "
        "rm f1 f2; mkdir d; echo after_rm=$?",
        ["--disk-inodes", "300"], changes="discard")
    # /output itself is copied up into the write layer: one of the 300 names.
    assert field(result, "created") == 299, result.describe()
    assert field(result, "mkdir") != 0 and field(result, "ln") != 0, result.describe()
    assert field(result, "after_rm") == 0, result.describe()
    assert "No space left on device" in result.stderr, result.describe()


def test_df_inside_shows_the_quota_not_the_host_disk(runner, repo):
    script = ("df -B1 --output=size,used,avail /workspace | tail -1; "
              "df --output=itotal /workspace | tail -1")
    # Without flags: the safe default, 10 GiB and a million names.
    default = runner.sh(repo, script)
    assert default.returncode == 0, default.describe()
    assert int(default.stdout.split()[0]) == 10 * 1024 * MIB, default.describe()
    assert int(default.stdout.split()[3]) == 1_000_000, default.describe()
    limited = runner.sh(repo, script, ["--disk", "64M", "--disk-inodes", "5000"])
    assert limited.returncode == 0, limited.describe()
    size, used, avail = (int(n) for n in limited.stdout.split()[:3])
    assert (size, used, avail) == (64 * MIB, 0, 64 * MIB), limited.describe()
    assert int(limited.stdout.split()[3]) == 5000, limited.describe()


def test_no_limit_when_asked(runner, repo):
    result = runner.sh(repo, "df -B1 --output=size /workspace | tail -1",
                       ["--disk", "0", "--disk-inodes", "0"])
    assert result.returncode == 0, result.describe()
    assert int(result.stdout.split()[0]) > 10 * 1024 * MIB, result.describe()  # the host disk


@pytest.mark.parametrize("flags, named", [
    (["--disk", "12X"], "--disk"),
    (["--disk", "-5M"], "--disk"),
    (["--disk-inodes", "many"], "--disk-inodes"),
    # 2^64 bytes wrapped to 0 ("no limit"), one more GiB to a 1 GiB quota.
    (["--disk", "17179869184G"], "--disk"),
    (["--disk", "17179869185G"], "--disk"),
    (["--disk", "8589934592G"], "--disk"),
    (["--memory", "17179869185G"], "--memory"),
])
def test_bad_quota_flags_are_refused_naming_them(runner, repo, flags, named):
    result = runner.sh(repo, "true", flags)
    assert result.returncode == 2, result.describe()
    assert named in result.stderr, result.describe()


def test_hard_links_cannot_make_apply_write_more_than_the_quota(attack, repo):
    """The quota counts a file with many names once; applying copies it once per name:
    8 MiB linked 15 times under --disk 16M would have put 128 MiB into the directory."""
    result = attack(
        "cd /workspace/output && dd if=/dev/zero of=big bs=1M count=8 2>/dev/null && "
        "for i in $(seq 1 15); do ln big l$i; done; echo linked=$?",
        ["--disk", "16M"])
    assert field(result, "linked") == 0, result.describe()
    assert "not applied: the changes would write 134217728 bytes" in result.stderr, \
        result.describe()
    assert result.returncode != 0, result.describe()
    assert not (repo / "output" / "big").exists(), result.describe()
