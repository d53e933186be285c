"""Modes in writable areas are the ones the agent asked for, as on a native filesystem.

The kernel applies the agent's umask before a create reaches the filesystem; the daemon
must not apply its own on top (it used to: `umask 0; touch f` made 0644). Copy-up keeps
the base file's mode too. pjdfstest (tests/posix) covers the rest.
"""

import os

import pytest


@pytest.mark.parametrize("umask,file_mode,dir_mode", [("0", "666", "777"),
                                                      ("027", "640", "750"),
                                                      ("022", "644", "755")])
def test_created_files_get_the_mode_the_agent_asked_for(runner, repo, umask, file_mode,
                                                        dir_mode):
    result = runner.sh(repo, f"umask {umask} && cd /workspace/output && touch f && "
                             "mkdir d && mkfifo p && stat -c '%n %a' f d p")
    assert result.returncode == 0, result.describe()
    assert result.stdout.split() == ["f", file_mode, "d", dir_mode, "p", file_mode]


def test_explicit_modes_at_create_and_chmod_are_kept(runner, repo):
    script = ("cd /workspace/output && python3 -c \"import os; "
              "os.close(os.open('g', os.O_CREAT | os.O_WRONLY, 0o620))\" && "
              "chmod 0777 report.txt && stat -c '%n %a' g report.txt")
    result = runner.sh(repo, "umask 0 && " + script)
    assert result.returncode == 0, result.describe()
    assert result.stdout.split() == ["g", "620", "report.txt", "777"]


def test_writing_a_base_file_keeps_its_mode(runner, repo):
    os.chmod(repo / "output" / "report.txt", 0o664)
    result = runner.sh(repo, "echo more >> /workspace/output/report.txt && "
                             "stat -c %a /workspace/output/report.txt")
    assert result.returncode == 0, result.describe()
    assert result.stdout.strip() == "664"
