"""Each permission level through `agentfense run`, and what --changes does with writes.

Policy used here: agent-safe plus docs/*.md at `view`, so the sample repo has all four
levels: .env (none), docs/*.md (view), src/ (read), output/ (write).
"""

import os
import re
import stat
import subprocess

import pytest

from harness import tree_digest

# The levels table and the escape suite run on both runtimes (conftest.py).
RUNTIMES = ("bwrap", "docker")

LEVELS = ["--preset", "agent-safe", "--rule", "docs/*.md=view:50"]


def run(runner, repo, script, *extra):
    return runner.sh(repo, script, [*LEVELS, *extra])


def test_none_is_absent(runner, repo):
    result = run(runner, repo, "ls -a /workspace; cat /workspace/.env; stat /workspace/.env")
    names = result.stdout.split()
    assert "src" in names and ".env" not in names and ".git" not in names, result.describe()
    assert result.stderr.count("No such file or directory") == 2, result.describe()
    assert result.returncode != 0


def test_view_lists_but_never_reads(runner, repo):
    size = (repo / "docs" / "guide.md").stat().st_size
    result = run(runner, repo, "ls /workspace/docs; stat -c '%s %A' /workspace/docs/guide.md; "
                 "cat /workspace/docs/guide.md")
    lines = result.stdout.splitlines()
    assert lines[:2] == ["api.md", "guide.md"], result.describe()
    reported_size, mode = lines[2].split()
    assert int(reported_size) == size
    assert "r" not in mode[1:] and "w" not in mode[1:], f"view must clear r/w bits: {mode}"
    assert "Permission denied" in result.stderr and result.returncode != 0
    assert "Read me" not in result.stdout


def test_read_can_read_but_not_write(runner, repo):
    result = run(runner, repo, "cat /workspace/src/util.py; stat -c %A /workspace/src/util.py; "
                 "echo x >> /workspace/src/util.py")
    assert result.stdout.startswith((repo / "src" / "util.py").read_text()), result.describe()
    mode = result.stdout.splitlines()[-1]
    assert "w" not in mode[1:], f"read must clear write bits: {mode}"
    assert "Permission denied" in result.stderr or "Read-only" in result.stderr
    assert result.returncode != 0


WRITE_SCRIPT = ("cd /workspace/output && echo 'new content' > new.txt && "
                "echo 'fresh report' > report.txt && rm stale.txt && mkdir -p sub/deep && "
                "echo nested > sub/deep/n.txt && cat new.txt report.txt && ls")


def test_write_sees_its_own_changes(runner, repo):
    result = run(runner, repo, WRITE_SCRIPT, "--changes", "discard")
    assert result.returncode == 0, result.describe()
    assert result.stdout.split() == ["new", "content", "fresh", "report", "new.txt",
                                     "report.txt", "sub"], result.describe()


def test_changes_show_reports_and_leaves_dir_identical(runner, repo):
    before = tree_digest(repo)
    result = run(runner, repo, WRITE_SCRIPT)  # show is the default
    assert result.returncode == 0, result.describe()
    for kind, path in [("A", "output/new.txt"), ("M", "output/report.txt"),
                       ("D", "output/stale.txt"), ("A", "output/sub/deep/n.txt")]:
        assert re.search(rf"^{kind} /?{re.escape(path)}$", result.stderr, re.M), result.describe()
    assert re.search(r"^@@ ", result.stderr, re.M), "no unified diff hunk"
    assert re.search(r"^-old report$", result.stderr, re.M)
    assert re.search(r"^\+fresh report$", result.stderr, re.M)
    assert re.search(r"^\+new content$", result.stderr, re.M)
    assert tree_digest(repo) == before


def test_changes_discard_is_silent_and_leaves_dir_identical(runner, repo):
    before = tree_digest(repo)
    result = run(runner, repo, WRITE_SCRIPT, "--changes", "discard")
    assert result.returncode == 0
    assert not re.search(r"^[AMD] ", result.stderr, re.M), result.describe()
    assert tree_digest(repo) == before


def test_changes_apply_updates_only_written_paths(runner, repo):
    before = tree_digest(repo, exclude_top=("output",))
    result = run(runner, repo, WRITE_SCRIPT, "--changes", "apply")
    assert result.returncode == 0, result.describe()
    out = repo / "output"
    assert (out / "new.txt").read_text() == "new content\n"
    assert (out / "report.txt").read_text() == "fresh report\n"
    assert not (out / "stale.txt").exists()
    assert (out / "sub" / "deep" / "n.txt").read_text() == "nested\n"
    assert tree_digest(repo, exclude_top=("output",)) == before


def test_apply_keeps_file_modes(runner, repo):
    result = run(runner, repo, "printf '#!/bin/sh\\necho hi\\n' > /workspace/output/tool.sh && "
                 "chmod 755 /workspace/output/tool.sh", "--changes", "apply")
    assert result.returncode == 0, result.describe()
    assert stat.S_IMODE((repo / "output" / "tool.sh").stat().st_mode) & 0o111


@pytest.mark.skipif(os.geteuid() != 0, reason="only root commits another user's files")
def test_apply_as_root_leaves_the_users_files_theirs(runner, repo):
    # `sudo agentfense run --changes apply` on a user's checkout replaced their files with
    # root-owned ones and created root-owned directories they could not clean up.
    nobody = 65534
    subprocess.run(["chown", "-R", f"{nobody}:{nobody}", str(repo)], check=True)
    result = run(runner, repo, "echo more >> /workspace/README.md && "
                 "mkdir -p /workspace/output/new/sub && echo f > /workspace/output/new/sub/f && "
                 "ln -s f /workspace/output/new/sub/link",
                 "--rule", "/README.md=write:50", "--changes", "apply")
    assert result.returncode == 0, result.describe()
    for rel in ("README.md", "output/new", "output/new/sub", "output/new/sub/f",
                "output/new/sub/link"):
        st = os.lstat(repo / rel)
        assert (st.st_uid, st.st_gid) == (nobody, nobody), (rel, st.st_uid, result.describe())


def test_sqlite_and_git_work_in_writable_area(runner, repo):
    script = ("cd /workspace/output && /usr/bin/python3 -c \"import sqlite3; c = sqlite3.connect('t.db'); "
              "c.execute('create table t(x)'); c.execute('insert into t values (42)'); "
              "c.commit(); print(c.execute('select x from t').fetchone()[0])\" && "
              "git init -q g && cd g && echo a > a && git add a && "
              "git -c user.email=a@b -c user.name=a commit -qm one && git log --oneline | wc -l")
    # full-access: agent-safe hides .git at any depth and development keeps .git/config
    # read-only, so `git init` fails under both.
    result = runner.sh(repo, script, ["--preset", "full-access", "--env", "HOME=/tmp",
                                      "--changes", "discard"])
    assert result.stdout.split() == ["42", "1"], result.describe()


def test_git_commit_of_more_files_than_the_fd_cache_holds(runner, repo):
    # git writes each object to a temporary name, links the final name and unlinks the
    # temporary one: the object must stay readable once its fd has left the fs's cache
    # (8,192 fds; two per file here). This once failed with "invalid object".
    script = ("cd /workspace/output && git init -q g && cd g && "
              "for i in $(seq 5000); do echo \"file $i\" > f$i; done && git add . && "
              "git -c user.email=a@b -c user.name=a commit -qm many && git fsck && "
              "git cat-file -p HEAD:f1 && git ls-files | wc -l")
    result = runner.sh(repo, script, ["--preset", "full-access", "--env", "HOME=/tmp",
                                      "--changes", "discard", "--timeout", "300"])
    assert result.returncode == 0, result.describe()
    assert result.stdout.split() == ["file", "1", "5000"], result.describe()


def test_none_directory_with_visible_descendants_is_traversable(runner, repo):
    result = runner.sh(repo, "ls -a /workspace; ls -aR /workspace/src; cat /workspace/README.md",
                       ["--rule", "src/**/*.py=read"])
    listing = result.stdout.split()
    assert "src" in listing and "docs" not in listing and "README.md" not in listing
    assert {"app.py", "util.py", "helpers.py"} <= set(listing), result.describe()
    assert "No such file or directory" in result.stderr


def test_equal_priority_rule_overrides_preset(runner, repo):
    result = runner.sh(repo, "cat /workspace/src/app.py",
                       ["--preset", "agent-safe", "--rule", "**/*=view"])
    assert "Permission denied" in result.stderr and "def main" not in result.stdout


@pytest.mark.parametrize("rule, visible", [(".env=read", False), (".env=read:100", True)])
def test_secret_rules_need_priority_to_override(runner, repo, secrets, rule, visible):
    # Also the control for the escape suite: when the policy allows it, the sandbox shows
    # the planted secret, so "secret absent" there is a real finding and not an artefact.
    result = runner.sh(repo, "cat /workspace/.env", ["--preset", "agent-safe", "--rule", rule])
    assert (secrets["dotenv"] in result.stdout) == visible, result.describe()


# Attack sweep J: a preset's secret rules named only the name, so a DIRECTORY so named
# (cookiecutter's .envs/, config/credentials/, a certs.pem/ directory) was hidden as a
# name yet traversable below `**/*`, and everything in it readable (writable under
# development).
SECRET_DIRS = {".envs/.production/.postgres": "POSTGRES_PASSWORD=hunter2",
               "config/credentials/aws": "aws_secret_access_key=AKIA",
               "certs.pem/server": "BEGIN PRIVATE KEY",
               "deploy.key/id": "ssh-key-material"}


@pytest.mark.parametrize("preset", ["agent-safe", "development"])
def test_a_preset_hides_what_is_inside_secret_named_directories(runner, repo, preset):
    for rel, text in SECRET_DIRS.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text + "\n")
    paths = " ".join(SECRET_DIRS)
    result = runner.sh(repo, f"cd /workspace; grep -r -h -e hunter2 -e AKIA -e PRIVATE -e ssh-key "
                       f". 2>/dev/null; cat {paths} 2>/dev/null; find . -path ./.git -prune -o -print "
                       f"| grep -e .envs -e credentials -e certs.pem -e deploy.key; "
                       f"echo x > config/credentials/new 2>/dev/null && echo WROTE; true",
                       ["--preset", preset, "--changes", "discard"])
    assert result.returncode == 0, result.describe()
    assert result.stdout == "", result.describe()
    assert (repo / "config" / "credentials" / "aws").read_text() == SECRET_DIRS["config/credentials/aws"] + "\n"


# Issue 11 item 1: creating, removing or renaming a name is decided by the name's level.
NAMES_SCRIPT = ("cd /workspace && echo done > output/report.txt && mkdir output/sub && "
                "rm output/stale.txt && mv output/report.txt output/final.txt && "
                "ln -s final.txt output/link && ln output/final.txt output/hard && "
                "stat -c %A output && ls output && "
                "{ touch src/new.py; mkdir src/d; rm README.md; mv output out2; rmdir output/sub/x; "
                "touch output/sub/deeper; } 2>&1 | grep -c 'Permission denied\\|No such file'")


def test_write_on_names_in_a_read_directory(runner, repo):
    result = runner.sh(repo, NAMES_SCRIPT, ["--preset", "read-only", "--rule", "output/*=write",
                                            "--changes", "apply"])
    assert result.returncode == 0, result.describe()
    assert result.stdout.split() == ["drwxr-xr-x", "final.txt", "hard", "link", "sub", "6"], \
        result.describe()
    out = repo / "output"
    assert (out / "final.txt").read_text() == "done\n" and not (out / "stale.txt").exists()
    assert (repo / "README.md").exists() and not (repo / "src" / "new.py").exists()


# Attack sweep J8: under a rule hiding a name as a directory (`libs/*/.git/=none`), a
# `.git` file or symlink cannot be created there, yet one made elsewhere arrived when its
# DIRECTORY was renamed into place, and was committed: a `.git` file naming another gitdir
# makes git on the host run what the agent wrote. That rename now fails with EXDEV, as for
# any directory move that would change a descendant's level, and mv's copy fallback is
# refused at the name itself. A directory of ordinary files still moves and is committed.
HIDDEN_GIT_DIRS = ["--preset", "", "--rule", "**=write", "--rule", "libs/*/.git/=none:100",
                   "--changes", "apply"]
RENAME_ERRNO = ("python3 -c \"import os\ntry:\n os.rename('t', 'libs/evil'); print('renamed')\n"
                "except OSError as e: print('errno', e.errno)\"")


@pytest.mark.parametrize("make", ["echo 'gitdir: /tmp/evil' > t/.git",
                                  "ln -s ../../elsewhere t/.git"], ids=["file", "symlink"])
def test_a_moved_directory_cannot_bring_a_name_hidden_as_a_directory(runner, repo, make):
    (repo / "libs" / "foo" / ".git").mkdir(parents=True)
    (repo / "libs" / "foo" / ".git" / "config").write_text("[core]\n")
    result = runner.sh(repo, f"cd /workspace && mkdir t && {make} && {RENAME_ERRNO}; "
                       "mv t libs/evil; echo mv=$?; mkdir u && echo x > u/f && mv u libs/ok",
                       HIDDEN_GIT_DIRS)
    assert result.stdout.split() == ["errno", "18", "mv=1"], result.describe()  # EXDEV
    assert "Permission denied" in result.stderr, result.describe()
    assert not os.path.lexists(repo / "libs" / "evil" / ".git"), result.describe()
    assert (repo / "libs" / "ok" / "f").read_text() == "x\n", result.describe()


def test_full_access_creates_at_the_root(runner, repo):
    result = runner.sh(repo, "cd /workspace && mkdir out2 && echo x > out2/f && echo y > top.txt && "
                       "mv top.txt top2.txt && rm README.md && ls -d out2 top2.txt && stat -c %A .",
                       ["--preset", "full-access", "--changes", "discard"])
    assert result.returncode == 0, result.describe()
    assert result.stdout.split() == ["out2", "top2.txt", "drwxr-xr-x"], result.describe()


def test_agent_safe_keeps_the_root_and_sources_unwritable(runner, repo):
    # The root is presented writable (/output and /tmp may be created), but every other
    # name in it stays read: the daemon refuses what the mode bit lets through.
    result = runner.sh(repo, "cd /workspace && stat -c %A . src output; touch new; mkdir d; "
                       "mv src src2; rm README.md; touch src/x", [*LEVELS, "--changes", "discard"])
    assert result.stdout.split() == ["drwxr-xr-x", "dr-xr-xr-x", "drwxr-xr-x"], result.describe()
    assert result.stderr.count("Permission denied") == 5, result.describe()


def test_reserved_names_are_none_whatever_the_rules(runner, repo):
    """A commit builds each file under `.agentfense-commit-*` beside its target, and an
    upload to an imported codebase stages `.af-staging-*` at its root: content on its way
    to a path with other rules. Under `**=write` an agent read a staged `secrets/key`
    through the staging name; such names are now none at any priority, and cannot be
    created."""
    (repo / ".af-staging-stage_1" / "secrets").mkdir(parents=True)
    (repo / ".af-staging-stage_1" / "secrets" / "key").write_text("TOPSECRET\n")
    (repo / "src" / ".agentfense-commit-0123abcd").write_text("TOPSECRET\n")
    result = runner.sh(repo, "ls -A /workspace /workspace/src; "
                       "cat .af-staging-stage_1/secrets/key src/.agentfense-commit-0123abcd; "
                       "touch src/.agentfense-commit-new || echo refused",
                       ["--preset", "full-access", "--rule", "**=write:1000"])
    assert "TOPSECRET" not in result.stdout and "af-staging" not in result.stdout, \
        result.describe()
    assert "agentfense-commit" not in result.stdout, result.describe()
    assert result.stderr.count("No such file or directory") == 2, result.describe()
    assert result.stdout.endswith("refused\n"), result.describe()
