"""git inside a sandbox trusts the index the host's git wrote (issue 14 item 2).

The workspace presents its own inode numbers and one owner, so with git's default stat
comparison every file of a checkout looked changed: the first `git status` re-read every
file and rewrote .git/index, which then showed up as a change of the codebase. The
sandbox's generated /etc/gitconfig makes git compare mtime and size only.
"""

import subprocess
from pathlib import Path


def make_checkout(root: Path, files: int = 200) -> None:
    for i in range(files):
        path = root / f"pkg{i % 10}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"value = {i}\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root.parent), "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=d", "-c", "user.email=d@e", "commit", "-qm", "init"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env)


def test_git_status_neither_rehashes_nor_rewrites_the_index(runner, tmp_path):
    checkout = tmp_path / "checkout"
    make_checkout(checkout)
    index = (checkout / ".git" / "index").read_bytes()
    result = runner.sh(checkout, "cd /workspace && git status --porcelain && "
                                 "echo checkStat=$(git config core.checkStat)",
                       ["--preset", "full-access", "--changes", "show"])
    assert result.returncode == 0, result.describe()
    assert "checkStat=minimal" in result.stdout
    # Nothing is reported modified, and git had no reason to refresh its index: the
    # sandbox's change list is empty.
    assert ".git/index" not in result.output, result.describe()
    assert "M /" not in result.output, result.describe()
    assert (checkout / ".git" / "index").read_bytes() == index


def test_a_real_edit_is_still_seen(runner, tmp_path):
    checkout = tmp_path / "checkout"
    make_checkout(checkout, files=20)
    result = runner.sh(checkout, "cd /workspace && echo 'value = -1' >> pkg3/mod3.py && "
                                 "git status --porcelain",
                       ["--preset", "full-access", "--changes", "discard"])
    assert result.returncode == 0, result.describe()
    assert " M pkg3/mod3.py" in result.stdout, result.describe()


def test_objects_are_created_by_rename_and_the_commit_is_sound(runner, tmp_path):
    # git's default makes each new object with a hard link and an unlink of the temporary
    # name (two daemon round trips, each followed by a refetch of objects/xx's attributes);
    # the generated config has it rename instead (BENCHMARKS.md, "git commit in a sandbox").
    checkout = tmp_path / "checkout"
    make_checkout(checkout, files=40)
    result = runner.sh(checkout,
                       "cd /workspace && echo createObject=$(git config core.createObject) && "
                       "for f in pkg*/mod*.py; do echo 'edited = 1' >> $f; done && "
                       "git -c user.name=a -c user.email=a@b commit -qam edit && "
                       "git fsck --strict --no-dangling && git status --porcelain && "
                       "echo commits=$(git rev-list --count HEAD)",
                       ["--preset", "full-access", "--changes", "discard"])
    assert result.returncode == 0, result.describe()
    assert "createObject=rename" in result.stdout, result.describe()
    assert "commits=2" in result.stdout, result.describe()
    assert " M " not in result.stdout, result.describe()
