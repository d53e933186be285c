"""Escape suite, part 1: reaching hidden files through the filesystem namespace.

Every test runs one attack as the agent under agent-safe with --changes apply, via the
`attack` fixture, which asserts that no planted secret (hidden files, git config and
history, the host's own environment) appears in any output and that nothing outside the
writable /output changed on the host. The kernel-boundary attacks are in
test_escape_kernel.py, the attacks on committing changes in test_escape_commit.py.
"""

import pytest

from conftest import HIDDEN_FILES

# The levels table and the escape suite run on both runtimes (conftest.py).
RUNTIMES = ("bwrap", "docker")

HIDDEN_NAMES = [".env", ".env.production", "secrets", "deploy.pem", "server.key",
                "credentials.json", ".git"]


def secret_regex(secrets: dict[str, str]) -> str:
    """An ERE matching every secret whose own text contains none of them, so a search
    cannot find itself in /proc/*/cmdline or in its script."""
    return "|".join(f"{s[:6]}[{s[6]}]{s[7:]}" for s in secrets.values())


def assert_hidden_names_absent(text: str) -> None:
    for line in text.splitlines():
        for name in HIDDEN_NAMES:
            assert not line.rstrip("/").endswith("/" + name) and line.strip() != name, (
                f"hidden name {name!r} visible: {line!r}")


def test_grep_whole_filesystem(attack, secrets):
    # /usr is the host's read-only /usr (5 GB, minutes to scan) and holds no repository
    # data; /proc and /sys have their own test below.
    result = attack(
        "for d in /*; do case $d in /usr|/proc|/sys) continue;; esac; "
        f"grep -r -a -o -s -D skip -E '{secret_regex(secrets)}' \"$d\"; done; true")
    assert result.returncode == 0, result.describe()


def test_grep_proc(attack, secrets):
    # Excluded: task/ (the same processes again), net/ (per-namespace tables) and files
    # that are address-space or physical-memory views (pagemap, mem, kcore, kpage*): a
    # recursive grep over those runs out of memory without ever seeing file data.
    # /sys holds kernel and device state only.
    result = attack("timeout 120 grep -r -a -o -s -D skip --exclude-dir=task --exclude-dir=net "
                    "--exclude=pagemap --exclude=mem --exclude=kcore --exclude='kpage*' "
                    f"-E '{secret_regex(secrets)}' /proc; true")
    assert result.returncode == 0, result.describe()


def test_find_hidden_names_anywhere(attack):
    result = attack("find / \\( -name '.env*' -o -name '*.pem' -o -name '*.key' "
                    "-o -name 'credentials*' -o -name secrets -o -name .git \\) 2>/dev/null; true")
    workspace_hits = [l for l in result.stdout.splitlines() if l.startswith("/workspace")]
    assert workspace_hits == [], result.describe()


@pytest.mark.parametrize("rel", sorted(HIDDEN_FILES))
def test_cat_hidden_file(attack, rel):
    result = attack(f"cat /workspace/{rel}")
    assert result.returncode != 0
    assert "No such file or directory" in result.stderr, result.describe()


@pytest.mark.parametrize("spelling", [
    "/workspace/src/../.env", "/workspace//.env", "/workspace/./.env",
    "/workspace/src/lib/../../.env", "/workspace/config/secrets/../secrets/db.txt",
    "/workspace/output/../deploy.pem", "/workspace/.e*", "/workspace/.git/config",
    "/workspace/.git/HEAD",
])
def test_path_spelling_tricks(attack, spelling):
    result = attack(f"cat {spelling}")
    assert result.returncode != 0
    assert "No such file or directory" in result.stderr, result.describe()


def test_relative_dirs_from_inside(attack):
    result = attack("cd /workspace/config && cat secrets/db.txt; cd /workspace/output && "
                    "cat ../.env ../credentials.json; ls -a /workspace/config")
    assert "secrets" not in result.stdout.split(), result.describe()


@pytest.mark.parametrize("walker", [
    "ls -aR /workspace", "find /workspace", "du -a /workspace", "ls -laR /workspace",
    "tar -cf - -C /workspace . | tar -tvf -", "stat -c %n /workspace/* /workspace/.*",
])
def test_walks_never_show_hidden_names(attack, walker):
    result = attack(walker + "; true")
    assert_hidden_names_absent(result.stdout)
    assert "app.py" in result.stdout or "stat" in walker, result.describe()


def test_tar_archive_of_workspace(attack):
    attack("tar -cf - -C /workspace . ; true")


@pytest.mark.parametrize("target", ["../.env", "../config/secrets/db.txt", "/workspace/.env",
                                    "../.git/config"])
def test_symlink_into_hidden(attack, target):
    result = attack(f"ln -s {target} /workspace/output/link && cat /workspace/output/link")
    assert result.returncode != 0, result.describe()


def test_symlink_from_private_tmp(attack):
    result = attack("ln -s /workspace/.env /tmp/x && cat /tmp/x")
    assert result.returncode != 0, result.describe()


def test_absolute_symlink_to_host_repo_path(attack, repo):
    result = attack(f"ln -s {repo}/.env /workspace/output/hostlink; "
                    f"cat /workspace/output/hostlink; cat {repo}/.env; ls -a {repo}; "
                    f"cat /proc/self/root{repo}/.env")
    assert "app.py" not in result.stdout, result.describe()


def test_hard_link_to_hidden(attack, repo):
    result = attack("ln /workspace/.env /workspace/output/x && cat /workspace/output/x")
    assert result.returncode != 0
    assert not (repo / "output" / "x").exists()


def test_hard_link_to_read_only_then_write(attack):
    # Either the link is refused (link needs write at both ends) or writing through it
    # must not reach src/app.py; the fixture checks the host copy is unchanged.
    attack("ln /workspace/src/app.py /workspace/output/app.py; "
           "echo pwned >> /workspace/output/app.py; true")


@pytest.mark.parametrize("script", [
    "mv /workspace/.env /workspace/output/x",
    "mv /workspace/config/secrets /workspace/output/s",
    "mv /workspace/config /workspace/output/config",
    "mv /workspace/src /workspace/output/src",
    "mv /workspace/output /workspace/.env",
    "echo x > /workspace/output/a && mv /workspace/output/a /workspace/output/.env",
    "mkdir /workspace/output/d && mv /workspace/output/d /workspace/output/secrets",
])
def test_rename_tricks(attack, repo, script):
    attack(script + "; cat /workspace/output/x /workspace/output/s/db.txt "
           "/workspace/output/config/secrets/db.txt; ls -aR /workspace/output; true")
    assert not (repo / "output" / ".env").exists()
    assert not (repo / "output" / "secrets").exists()


@pytest.mark.parametrize("hidden,absent", [
    ("/workspace/.env", "/workspace/.enx"),
    ("/workspace/config/secrets", "/workspace/config/secretz"),
    ("/workspace/config/secrets/db.txt", "/workspace/config/nothere/db.txt"),
])
def test_hidden_is_indistinguishable_from_absent(attack, hidden, absent):
    script = ("for p in {h} {a}; do stat $p; ls $p; touch $p; mkdir $p; "
              "echo x > $p; rm $p; done 2>&1 | sed 's#{h}#P#g; s#{a}#P#g'")
    result = attack(script.format(h=hidden, a=absent))
    lines = result.stdout.splitlines()
    half = len(lines) // 2
    assert lines[:half] == lines[half:], result.describe()


def test_create_over_hidden_name_fails(attack, repo):
    result = attack("echo x > /workspace/output/.env; echo y > /workspace/output/id.pem; "
                    "mkdir -p /workspace/output/secrets; ls -a /workspace/output")
    assert ".env" not in result.stdout.split()
    for name in (".env", "id.pem", "secrets"):
        assert not (repo / "output" / name).exists()


def test_directory_metadata_does_not_count_hidden_children(attack):
    # config/ holds only the hidden secrets/ subdirectory: a link count of 3 would reveal it.
    result = attack("stat -c %h /workspace/config")
    assert result.stdout.strip() in ("1", "2"), result.describe()


def test_symlink_swap_race(attack):
    # A reader racing a writer that flips a name between a plain file and a link to .env
    # must only ever see the plain file's content or an error.
    attack("cd /workspace/output; i=0; while [ $i -lt 300 ]; do "
           "echo plain > r.tmp; mv -f r.tmp race; ln -sfn ../.env race; i=$((i+1)); done & "
           "j=0; while [ $j -lt 300 ]; do cat race 2>/dev/null; j=$((j+1)); done; wait; true")


def test_git_sees_no_repository(attack):
    result = attack("git -C /workspace log --all; git -C /workspace/src log; "
                    "cat /workspace/.git/config; git -C /workspace status; true")
    assert "initial import" not in result.output, result.describe()
