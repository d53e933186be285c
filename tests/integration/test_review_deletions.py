"""The review lists everything a commit removes from the codebase. A base directory
replaced by a file or symlink is removed with all it holds when that entry is committed;
under a recreated parent (`rm -r src; mkdir src`) or after a rename onto the name, no
whiteout says so, and the review listed the new entry alone ("A /src/util") while
`--changes apply` deleted the directory's files. The shapes come from the real fs."""

from pathlib import Path

import pytest

from harness import Runner

BASE = {
    "src/main.py": "main\n",
    "src/keep.py": "keep\n",
    "src/util/important.py": "keep me\n",
    "src/util/deep/leaf.py": "leaf\n",
}
UTIL_HELD = {"D /src/util/important.py", "D /src/util/deep"}


def make_tree(root: Path) -> None:
    for rel, text in BASE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def files_under(root: Path) -> set[str]:
    return {"/" + str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


@pytest.mark.parametrize("script,listed", [
    # The control: no recreated parent, the whiteouts below src/util remain.
    ("rm -r src/util && echo hi > src/util", {"M /src/util"} | UTIL_HELD),
    # Recreated parent; main.py written back as it was is no change, keep.py is gone.
    ("rm -r src && mkdir src && echo main > src/main.py && echo hi > src/util",
     {"M /src/util", "D /src/keep.py"} | UTIL_HELD),
    ("rm -r src && mkdir src && cp /dev/null src/main.py && ln -s main.py src/util",
     {"M /src/main.py", "M /src/util -> main.py", "D /src/keep.py"} | UTIL_HELD),
    # A rename onto the deleted directory's name drops the records below it.
    ("rm -r src/util && echo hi > t && mv -T t src/util", {"M /src/util"} | UTIL_HELD),
    ("rm -r src && mkdir src && echo hi > t && mv -T t src/util",
     {"M /src/util", "D /src/main.py", "D /src/keep.py"} | UTIL_HELD),
], ids=["control", "recreated-parent", "symlink", "renamed-onto", "renamed-into-recreated"])
def test_every_deletion_a_commit_makes_is_reviewed(runner: Runner, tmp_path: Path, script: str,
                                                  listed: set[str]):
    root = tmp_path / "repo"
    make_tree(root)
    before = files_under(root)
    result = runner.sh(root, script, ["--preset", "full-access", "--changes", "apply"])
    assert result.returncode == 0, result.describe()
    review = {line for line in result.stderr.splitlines() if line[:2] in ("A ", "M ", "D ")}
    assert review == listed, result.describe()
    assert "not applied" not in result.stderr, result.describe()
    deleted_dirs = [line[2:] for line in review if line.startswith("D ")]
    for gone in before - files_under(root):
        assert any(gone == d or gone.startswith(d + "/") for d in deleted_dirs), (gone, review)
    assert (root / "src/util").is_symlink() or (root / "src/util").read_text() == "hi\n"


@pytest.mark.parametrize("script", [
    "rm -r src && mkdir src && echo hi > src/util",
    "rm -r src/util && echo hi > t && mv -T t src/util",
], ids=["recreated-parent", "renamed-onto"])
def test_a_replaced_directory_lists_no_hidden_entry(runner: Runner, tmp_path: Path, script: str):
    """The listing of a replaced base directory's entries (above) names only what the
    sandbox could see: a hidden file in it is not listed, diffed or removed."""
    root = tmp_path / "repo"
    make_tree(root)
    (root / "src/util/.env").write_text("TOKEN=hunter2-review\n")
    result = runner.sh(root, script, ["--preset", "full-access", "--rule", "**/.env=none",
                                      "--changes", "apply"])
    shown = result.stdout + result.stderr
    assert ".env" not in shown and "hunter2-review" not in shown, result.describe()
    assert "D /src/util/important.py" in shown, result.describe()
    assert (root / "src/util/.env").read_text() == "TOKEN=hunter2-review\n"
