"""Escape suite, part 4: the change review is a way out of the sandbox too.

What the agent cannot see must never appear in a change listing, a diff or a commit
report, and a commit must never delete it (issue 9 item 1). Names and content shown for
review cannot spoof the review (item 9), and a commit carries only plain content to the
host (item 10).
"""

import os
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from harness import assert_no_secret


@pytest.fixture
def planted(repo: Path) -> tuple[Path, str]:
    """A hidden .env inside the writable output/ directory, next to a visible file."""
    secret = f"SECRETPLANTED{uuid.uuid4().hex}"
    cfg = repo / "output" / "cfg"
    cfg.mkdir()
    (cfg / ".env").write_text(f"API_KEY={secret}\n")
    (cfg / "app.yaml").write_text("port: 80\n")
    os.chmod(cfg, 0o755)
    os.chmod(cfg / ".env", 0o644)
    os.chmod(cfg / "app.yaml", 0o644)
    return cfg / ".env", secret


def assert_hidden_stays(result, env_file: Path, secret: str) -> None:
    assert secret not in result.output, result.describe()
    assert "cfg/.env" not in result.output, result.describe()
    assert env_file.read_text() == f"API_KEY={secret}\n", "the hidden file was changed"


# The attack as written, and the other ways to replace the directory.
REPLACE_CFG = [
    "rm -rf /workspace/output/cfg && mkdir /workspace/output/cfg",
    "rm -rf /workspace/output/cfg",
    "rm /workspace/output/cfg/app.yaml && mkdir /workspace/output/n && "
    "echo fresh > /workspace/output/n/f && mv -T /workspace/output/n /workspace/output/cfg",
    "rm -rf /workspace/output/cfg && echo now-a-file > /workspace/output/cfg",
    "cd /workspace && find output/cfg -mindepth 1 -delete && rmdir output/cfg && "
    "mkdir output/cfg && touch output/cfg/.keep",
]


@pytest.mark.parametrize("script", REPLACE_CFG)
@pytest.mark.parametrize("changes", ["show", "apply"])
def test_replacing_a_directory_never_reveals_or_deletes_hidden_files(
        runner, repo, secrets, planted, script, changes):
    env_file, secret = planted
    result = runner.sh(repo, script, ["--preset", "agent-safe", "--changes", changes])
    assert_no_secret(result.output, secrets, result.describe())
    assert_hidden_stays(result, env_file, secret)
    if changes == "apply":
        assert not (repo / "output" / "cfg" / "app.yaml").exists(), result.describe()


def test_development_preset_never_reveals_secrets_at_any_depth(runner, repo, secrets):
    # development writes everything but secrets, so hidden files sit in writable trees.
    secret = f"SECRETDEEP{uuid.uuid4().hex}"
    deep = repo / "docs" / "sub" / "deeper"
    deep.mkdir(parents=True)
    (deep / ".env.local").write_text(secret + "\n")
    (deep / "page.md").write_text("page\n")
    subprocess.run(["chmod", "-R", "a+rX", str(repo / "docs")], check=True)
    result = runner.sh(repo, "rm -rf /workspace/docs/sub && mkdir /workspace/docs/sub && "
                             "echo new > /workspace/docs/sub/new.md",
                       ["--preset", "development", "--changes", "apply"])
    assert_no_secret(result.output, secrets, result.describe())
    assert secret not in result.output and ".env.local" not in result.output, result.describe()
    assert (deep / ".env.local").read_text() == secret + "\n"
    assert not (deep / "page.md").exists()
    assert (repo / "docs" / "sub" / "new.md").read_text() == "new\n"


def test_development_preset_keeps_git_usable_but_never_host_executable(runner, repo):
    # A writable .git let an agent plant commands the human's next git command runs
    # (core.fsmonitor, hooks, a .git file pointing elsewhere), applied with the changes
    # or committed by the agent itself through MCP. History stays writable.
    script = (
        "cd /workspace && echo more >> README.md && git add README.md && "
        "git -c user.email=a@b -c user.name=agent commit -qm by-agent && echo COMMITTED; "
        "git config core.fsmonitor 'touch /tmp/pwned' 2>/dev/null || echo CONFIG-REFUSED; "
        "echo '#!/bin/sh' 2>/dev/null > .git/hooks/post-checkout || echo HOOK-REFUSED; "
        "echo x 2>/dev/null > .git/info/exclude || echo EXCLUDE-REFUSED; "
        "echo .. 2>/dev/null > .git/commondir || echo COMMONDIR-REFUSED; "
        "printf 'gitdir: ../evil\\n' 2>/dev/null > output/.git || echo GITFILE-REFUSED; "
        "mkdir output/sub 2>/dev/null; cd output/sub && "
        "{ git init -q 2>/dev/null && echo INIT-DONE || echo INIT-REFUSED; }")
    config_before = (repo / ".git" / "config").read_text()
    result = runner.sh(repo, script, ["--preset", "development", "--env", "HOME=/tmp",
                                      "--changes", "apply"])
    for word in ("COMMITTED", "CONFIG-REFUSED", "HOOK-REFUSED", "EXCLUDE-REFUSED",
                 "COMMONDIR-REFUSED", "GITFILE-REFUSED", "INIT-REFUSED"):
        assert word in result.stdout.split(), result.describe()
    assert (repo / ".git" / "config").read_text() == config_before
    assert not (repo / ".git" / "hooks" / "post-checkout").exists()
    assert not (repo / ".git" / "commondir").exists() and not (repo / "output" / ".git").exists()
    log = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(repo), "log",
                          "--format=%an %s"], capture_output=True, text=True, check=True)
    assert log.stdout.splitlines()[0] == "agent by-agent", log.stdout


def test_a_directory_holding_only_hidden_files_looks_deleted_but_stays(runner, repo, secrets):
    # config/secrets/ is hidden as a whole: `rm -rf` cannot even name it, and removing the
    # visible rest of config/ never reaches it.
    result = runner.sh(repo, "rm -rf /workspace/config/* /workspace/config/secrets && "
                             "ls -a /workspace/config",
                       ["--preset", "development", "--changes", "apply"])
    assert_no_secret(result.output, secrets, result.describe())
    assert "config/secrets" not in result.output, result.describe()
    assert (repo / "config" / "secrets" / "db.txt").exists()
    assert not (repo / "config" / "settings.yaml").exists()


def test_spoofed_names_are_quoted_in_the_review(attack):
    result = attack("cd /workspace/output && printf x > \"$(printf 'a\\nM PLEASE-IGNORE')\" && "
                    "printf x > \"$(printf 'esc\\033[2Jx')\"", changes="show")
    lines = result.stderr.splitlines()
    assert not any(line.startswith("M PLEASE-IGNORE") for line in lines), result.describe()
    assert 'A "/output/a\\nM PLEASE-IGNORE"' in lines, result.describe()
    assert "\x1b" not in result.stderr, result.describe()
    assert 'A "/output/esc\\033[2Jx"' in lines, result.describe()


def test_control_characters_in_content_never_reach_the_terminal(attack):
    result = attack("printf '\\033]0;owned\\007\\033[31mred\\r\\n' > /workspace/output/c.txt",
                    changes="show")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr, result.describe()
    assert "\\x1b[31mred\\r" in result.stderr, result.describe()


def test_commit_strips_world_writable_modes(attack, repo):
    before = stat.S_IMODE(os.stat(repo / "output").st_mode)
    result = attack("cd /workspace/output && echo x > open.sh && chmod 777 open.sh . && "
                    "chmod 666 report.txt")
    assert stat.S_IMODE(os.stat(repo / "output" / "open.sh").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(repo / "output" / "report.txt").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(repo / "output").st_mode) == before
    assert "committed with mode 0755 instead of 0777" in result.stderr, result.describe()


def test_commit_refuses_fifos_and_symlinks_leading_out(attack, repo):
    result = attack("cd /workspace/output && mkfifo pipe && ln -s /etc/shadow shadow && "
                    "ln -s ../../../etc/passwd up && ln -s ../src/app.py inside")
    output = repo / "output"
    assert not os.path.lexists(output / "pipe")
    assert not os.path.lexists(output / "shadow")
    assert not os.path.lexists(output / "up")
    assert os.readlink(output / "inside") == "../src/app.py"
    # The review says where a link leads before it is applied (F11).
    assert "A /output/inside -> ../src/app.py" in result.stderr.splitlines(), result.describe()
    assert "FIFOs are not committed" in result.stderr, result.describe()
    assert "symlink target is absolute (/etc/shadow)" in result.stderr, result.describe()
    assert "leaves the codebase" in result.stderr, result.describe()
    assert result.returncode != 0, "a refused change must fail the run: " + result.describe()


def test_commit_refuses_symlinks_to_what_the_sandbox_cannot_read(attack, repo):
    # output/report -> ../.env was committed: every sandbox's rules still hid the target,
    # but on the host whatever follows links (cat, tar -h, an upload of output/) read the
    # secret. A link to a directory that may hold hidden paths carries them the same way.
    result = attack("cd /workspace/output && ln -s ../.env env-link && "
                    "ln -s ../config/secrets/db.txt db-link && ln -s ../config cfg-link && "
                    "ln -s ../docs docs-link && ln -s ../src/app.py app-link")
    output = repo / "output"
    for refused in ("env-link", "db-link", "cfg-link", "docs-link"):
        assert not os.path.lexists(output / refused), result.describe()
    assert os.readlink(output / "app-link") == "../src/app.py"
    assert "symlink target is not readable in the sandbox (../.env)" in result.stderr, (
        result.describe())
    assert "a directory holding paths the sandbox cannot read (../config)" in result.stderr, (
        result.describe())


@pytest.mark.parametrize("rules,target", [
    # "a/**/*/" names every directory below a/, not the files directly in it: secret.txt
    # matches no rule (none), yet the link to a/ was committed as if all below were read.
    (["a/**/*/=read", "a=read"], "../a"),
    # The same at the root: "**/*/" plus a rule matching the root ("{a,}") left every
    # root-level file hidden, but a link to the root was committed.
    (["**/*/=read", "{a,}=read"], ".."),
])
def test_commit_refuses_links_to_dirs_whose_files_no_directory_rule_reaches(
        runner, tmp_path, rules, target):
    tree = tmp_path / "tree"
    (tree / "a" / "sub").mkdir(parents=True)
    (tree / "out").mkdir()
    (tree / "a" / "secret.txt").write_text("HIDDEN\n")
    (tree / "a" / "sub" / "x").write_text("pub\n")
    options = ["--preset", "", "--rule", "out/**=write:10", "--changes", "apply"]
    for rule in rules:
        options += ["--rule", rule]
    result = runner.sh(tree, f"ln -s {target} /workspace/out/link", options)
    assert not os.path.lexists(tree / "out" / "link"), result.describe()
    assert f"a directory holding paths the sandbox cannot read ({target})" in result.stderr, (
        result.describe())


@pytest.mark.parametrize("head", ["echo 'ref: refs/heads/main' > bare/HEAD",
                                  "printf '%040d' 0 > bare/HEAD", "ln -s refs/heads/main bare/HEAD"])
def test_commit_never_makes_a_directory_a_git_repository(attack, repo, head):
    # Writing only output/, the agent laid out output/bare as a bare repository whose
    # config ran its command for the human's next git command there (a prompt running git
    # status on cd). The HEAD that makes git take it for one is refused.
    result = attack("cd /workspace/output && mkdir -p bare/objects bare/refs/heads && "
                    f"{head} && printf '[core]\\n\\tfsmonitor = touch /tmp/x\\n' > bare/config")
    bare = repo / "output" / "bare"
    assert (bare / "config").exists() and not os.path.lexists(bare / "HEAD"), result.describe()
    assert "would make /output/bare a git repository" in result.stderr, result.describe()
    found = subprocess.run(["git", "-c", "safe.directory=*", "rev-parse", "--absolute-git-dir"],
                           cwd=bare, capture_output=True, text=True)
    assert found.stdout.strip() == str(repo / ".git"), found


def every_committed_link_resolves_inside(repo: Path) -> list[str]:
    """The symlinks on the host below output/ that resolve outside the codebase."""
    root = os.path.realpath(repo)
    leaving = []
    for where, dirs, files in os.walk(repo / "output"):
        for name in dirs + files:
            path = os.path.join(where, name)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if target != root and not target.startswith(root + os.sep):
                    leaving.append(f"{path} -> {target}")
    return leaving


@pytest.mark.parametrize("script", [
    # The link sorts before the symlink it climbs through, so it was checked (dangling,
    # "inside") before that symlink existed; both were committed.
    "cd /workspace/output && mkdir -p d1/d2/d3 && ln -s ../../../.. d1/d2/d3/s && "
    "ln -s d1/d2/d3/s/../../../../../etc/passwd a",
    # The same with the climbing symlink made in a later commit of the same run's tree.
    "cd /workspace/output && mkdir -p z && ln -s z/s/../../../../etc/passwd a && "
    "ln -s ../.. z/s",
])
def test_a_committed_symlink_cannot_climb_through_a_later_one(attack, repo, script):
    result = attack(script)
    assert not every_committed_link_resolves_inside(repo), (
        every_committed_link_resolves_inside(repo), result.describe())
    assert not os.path.lexists(repo / "output" / "a"), result.describe()
    assert "only a leading ../ may climb" in result.stderr, result.describe()


def test_the_review_starts_from_a_sane_terminal(runner, repo):
    """The command's output reaches the same terminal just before the review: concealed
    text (SGR 8), the DEC line-drawing set, the alternate screen, a hidden cursor, black
    on black (OSC 11), an open hyperlink or an unterminated title (OSC 0, which would
    swallow what follows) it leaves would hide or garble the review a person decides on.
    On a terminal the review first resets them (not when stderr is a pipe)."""
    import pty
    leave = ("printf '\\033[8m\\033(0\\016\\033[?1049h\\033]11;#000000\\033\\\\"
             "\\033]8;;http://x\\033\\\\\\033[?25l\\033]0;'")
    argv = runner.argv(["run", "--preset", "agent-safe", "--changes", "show", str(repo), "--",
                        "sh", "-c", f"{leave}; echo x > /workspace/output/n.txt"])
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary,
                            env=runner.environment(), start_new_session=True)
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert proc.wait(timeout=60) == 0, seen
    left = seen.index(b"\x1b]0;") + len(b"\x1b]0;")  # the last thing the command printed
    review = seen.index(b"agentfense: 1 change(s)")
    between = seen[left:review]
    # An unterminated OSC (a title) is closed first, so it swallows nothing after it.
    assert between.startswith(b"\x18\x1b\\"), seen
    for reset in (b"\x1b[0m", b"\x1b(B", b"\x0f", b"\x1b[?1049l", b"\x1b[?25h",
                  b"\x1b]8;;\x1b\\", b"\x1b]110\x1b\\", b"\x1b]111\x1b\\"):
        assert reset in between, (reset, seen)
    assert b"A /output/n.txt" in seen[review:], seen


def test_refusal_reasons_cannot_add_review_lines(attack):
    """A refusal's reason quotes what was refused: an absolute symlink target with a
    newline printed a line of the agent's own after the review's."""
    result = attack("ln -s \"$(printf '/etc/x\\nagentfense: applied 0 change(s) FORGED\\033[2J')\" "
                    "/workspace/output/l")
    lines = result.stderr.splitlines()
    assert not any(line.startswith("agentfense: applied 0 change(s) FORGED") for line in lines), \
        result.describe()
    assert "\x1b" not in result.stderr, result.describe()
    assert any("symlink target is absolute (/etc/x\\nagentfense: applied 0 change(s) FORGED"
               in line for line in lines), result.describe()
