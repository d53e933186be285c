"""Escape suite, part 3: writing where the policy forbids it, and smuggling writes to the
host through `--changes apply` (which must never follow host symlinks, create devices or
setuid files, or touch paths without `write`).

Every attack goes through the `attack` fixture (see conftest.py): no secret in the
output, no host change outside /output, no secret copied into /output.
"""

import os
import stat
import uuid
from pathlib import Path

import pytest

# The levels table and the escape suite run on both runtimes (conftest.py).
RUNTIMES = ("bwrap", "docker")


@pytest.mark.parametrize("script", [
    "echo pwned > /workspace/src/app.py",
    "echo pwned >> /workspace/src/app.py",
    "truncate -s 0 /workspace/src/app.py",
    "rm -f /workspace/src/app.py",
    "echo new > /workspace/src/x.py",
    "mkdir /workspace/src/newdir",
    "chmod 777 /workspace/src/app.py",
    "touch -d 2000-01-01 /workspace/src/app.py",
    "mv /workspace/src/app.py /workspace/output/app.py",
    "ln -s app.py /workspace/src/link",
    "rm -rf /workspace/docs",
    "echo pwned > /workspace/README.md",
    "sed -i s/hello/pwned/ /workspace/src/util.py",
])
def test_write_to_read_only_path_fails(attack, repo, script):
    result = attack(script)
    assert result.returncode != 0, result.describe()
    assert ("Permission denied" in result.stderr or "Read-only" in result.stderr
            or "Operation not permitted" in result.stderr), result.describe()
    assert not (repo / "src" / "x.py").exists()


def test_read_only_content_unchanged_inside_too(attack):
    result = attack("echo pwned > /workspace/src/app.py; cat /workspace/src/app.py")
    assert "pwned" not in result.stdout and "def main" in result.stdout


@pytest.mark.parametrize("where", ["/workspace/output", "/tmp"])
def test_cannot_create_device_nodes(attack, repo, where):
    result = attack(f"mknod {where}/null c 1 3; echo rc=$?; mknod {where}/disk b 254 0; "
                    "echo rc=$?")
    assert "rc=0" not in result.stdout, result.describe()
    assert not (repo / "output" / "null").exists() and not (repo / "output" / "disk").exists()


def test_setuid_bit_cannot_be_set(attack, repo):
    result = attack("cp /bin/sh /workspace/output/sh && chmod 6755 /workspace/output/sh; "
                    "stat -c %a /workspace/output/sh")
    assert result.stdout.strip(), "could not create a file in /output\n" + result.describe()
    mode_inside = int(result.stdout.split()[-1], 8)
    assert mode_inside & (stat.S_ISUID | stat.S_ISGID) == 0, result.describe()
    host = repo / "output" / "sh"
    if host.exists():
        assert os.lstat(host).st_mode & (stat.S_ISUID | stat.S_ISGID) == 0


def test_privileged_xattrs_refused(attack):
    result = attack([
        "/usr/bin/python3", "-c",
        "import os\n"
        "for name in ('security.evil', 'trusted.evil', 'security.capability'):\n"
        "    try:\n"
        "        os.setxattr('/workspace/output/report.txt', name, b'1'); print('set', name)\n"
        "    except OSError as e:\n"
        "        print('refused', name, e.errno)\n"])
    assert "set " not in result.stdout, result.describe()


def test_apply_never_writes_through_host_file_symlink(attack, repo, tmp_path):
    # On the host, output/evil is a symlink to a file outside the codebase. The agent
    # replaces it with a regular file; applying must replace the link, not write through.
    target = tmp_path / "outside.txt"
    target.write_text("untouched\n")
    (repo / "output" / "evil").symlink_to(target)
    attack("rm -f /workspace/output/evil; echo pwned > /workspace/output/evil; true")
    assert target.read_text() == "untouched\n"


def test_apply_never_writes_through_host_dir_symlink(attack, repo, tmp_path):
    outside = tmp_path / "outside_dir"
    outside.mkdir()
    (repo / "output" / "dirlink").symlink_to(outside)
    attack("echo a > /workspace/output/dirlink/pwn; rm -f /workspace/output/dirlink; "
           "mkdir /workspace/output/dirlink; echo b > /workspace/output/dirlink/pwn; true")
    assert list(outside.iterdir()) == []


def test_apply_of_agent_symlinks_is_inert(attack, repo):
    # The agent may create symlinks in /output; on the host they must stay plain links
    # (never followed at apply time), so /etc/passwd and src/ are untouched.
    passwd = Path("/etc/passwd").read_bytes()
    attack("ln -s /etc/passwd /workspace/output/p; ln -s ../src/app.py /workspace/output/a; "
           "echo pwned > /workspace/output/p; echo pwned > /workspace/output/a; true")
    assert Path("/etc/passwd").read_bytes() == passwd
    for name in ("p", "a"):
        path = repo / "output" / name
        assert not path.exists() or path.is_symlink()


def test_hidden_file_never_written_by_apply(attack, repo, secrets):
    before = (repo / ".env").read_text()
    attack("echo pwned > /workspace/.env; echo pwned > /workspace/output/../.env; "
           "cp /workspace/README.md /workspace/.env.local; true")
    assert (repo / ".env").read_text() == before
    assert not (repo / ".env.local").exists()


def test_discard_and_show_leave_host_identical(attack, repo):
    marker = uuid.uuid4().hex
    for changes in ("show", "discard"):
        attack(f"echo {marker} > /workspace/output/new.txt; rm /workspace/output/stale.txt",
               changes=changes)
        assert not (repo / "output" / "new.txt").exists()
        assert (repo / "output" / "stale.txt").exists()


def test_fork_bomb_is_contained(attack):
    # --pids bounds the process tree. The forked children outlive the command; the
    # fixture's leftover check proves the whole tree is killed when the command ends.
    result = attack([
        "/usr/bin/python3", "-c",
        "import os, time\n"
        "forked = 0\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(120)\n"
        "        os._exit(0)\n"
        "    forked += 1\n"
        "print(forked)\n"], options=["--pids", "32", "--timeout", "60"])
    assert result.returncode == 0, result.describe()
    assert int(result.stdout.strip()) < 32, result.describe()
    assert result.seconds < 30, "the command's exit must end the run, not the timeout"


def test_removing_dir_of_hidden_dirs_keeps_them(runner, tmp_path):
    # work/a holds only a hidden directory (that **/*.md could, but does not, make
    # visible): it lists as empty, so it is removed like the really empty work/b, and the
    # commit keeps the hidden directory on the host.
    repo = tmp_path / "repo"
    (repo / "work" / "a" / "private").mkdir(parents=True)
    (repo / "work" / "a" / "private" / "key.txt").write_text("k")
    (repo / "work" / "b").mkdir()
    result = runner.sh(repo, "cd /workspace && ls -A work/a && rmdir work/a work/b", [
        "--preset", "", "--rule", "**=write", "--rule", "**/private/**=none:100",
        "--rule", "**/*.md=write:200", "--changes", "apply"])
    assert result.returncode == 0, result.describe()
    assert (repo / "work" / "a" / "private" / "key.txt").read_text() == "k"
    assert not (repo / "work" / "b").exists()
