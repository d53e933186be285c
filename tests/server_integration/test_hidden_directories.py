"""A directory below view is shown only while it holds something visible. When another
sandbox's commit takes its last visible file away, a sandbox that had looked it up must
see it vanish as a removed directory does: its cached dentry went on answering stat, so
the agent told a hidden directory (still on the host) from an absent one, and watched
the host directory's times move as hidden files were added in it. Found by an attack
sweep of the kernel surface."""

from __future__ import annotations

from conftest import make_codebase, make_sandbox, run
from server_harness import rule, sb

STAT = "cd /workspace; for n in h2 h3; do stat -c '%n %F' $n 2>&1; done"


def test_a_directory_hidden_by_another_sandboxs_commit_answers_as_absent(server):
    codebase_id = make_codebase(server, files={
        "h2/x.md": b"md\n", "h2/secret.txt": b"SECRET\n", "h3/y.md": b"y\n",
        "keep/z.md": b"z\n", "keep/secret.txt": b"S\n"})
    reader = make_sandbox(server, codebase_id, rules=[rule("**/*.md", "read")])
    writer = make_sandbox(server, codebase_id, rules=[rule("**", "write")])  # auto-commit
    try:
        # A shell that sits in the directory keeps it in the kernel's cache for sure.
        session = server.sandboxes.CreateSession(sb.CreateSessionRequest(
            sandbox_id=reader, shell="/bin/bash")).id
        r = server.sandboxes.SessionExec(sb.SessionExecRequest(
            session_id=session, command="cd /workspace/h2 && stat -c %F . ../h3 ../keep"))
        assert r.stdout.split() == ["directory"] * 3, r
        r = run(server, writer, "cd /workspace && rm h2/x.md && rm -rf h3")
        assert r.exit_code == 0, r.stderr

        # h2 (hidden content left) answers exactly as h3 (removed) does.
        r = run(server, reader, "cd /workspace; ls; " + STAT)
        assert r.stdout.splitlines() == [
            "keep",
            "stat: cannot statx 'h2': No such file or directory",
            "stat: cannot statx 'h3': No such file or directory"], r
        # Also for the shell whose cwd it was: no attributes, nothing found inside.
        r = server.sandboxes.SessionExec(sb.SessionExecRequest(
            session_id=session, command="stat -c %y . 2>&1; cat x.md secret.txt 2>&1"))
        assert r.stdout.splitlines() == [
            "stat: cannot statx '.': No such file or directory",
            "cat: x.md: No such file or directory",
            "cat: secret.txt: No such file or directory"], r
        # A directory that keeps a visible file stays, and one made visible again shows.
        assert run(server, writer, "echo md > /workspace/h2/x.md").exit_code == 0
        r = run(server, reader, "cd /workspace; stat -c '%n %F' keep h2; cat h2/x.md")
        assert r.stdout.splitlines() == ["keep directory", "h2 directory", "md"], r
    finally:
        for s in (reader, writer):
            server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=s))


def test_listings_and_negative_entries_follow_visibility_both_ways(server):
    codebase_id = make_codebase(server, files={
        "top/h4/x.md": b"x\n", "top/h4/s.txt": b"S\n", "top/other.md": b"o\n",
        "h5/secret.txt": b"S\n"})
    reader = make_sandbox(server, codebase_id, rules=[rule("**/*.md", "read")])
    writer = make_sandbox(server, codebase_id, rules=[rule("**", "write")])  # auto-commit
    try:
        r = run(server, reader, "cd /workspace; ls top; stat -c %F top/h4 h5 2>&1")
        assert r.stdout.splitlines() == [
            "h4", "other.md", "directory",
            "stat: cannot statx 'h5': No such file or directory"], r
        r = run(server, writer, "cd /workspace && rm top/h4/x.md && echo n > h5/new.md")
        assert r.exit_code == 0, r.stderr
        # Gone from its parent's listing (not only the root's), and a name the kernel
        # had cached as absent shows once something visible is in it.
        r = run(server, reader, "cd /workspace; ls top; stat -c %F top/h4 h5 2>&1; ls h5")
        assert r.stdout.splitlines() == [
            "other.md", "stat: cannot statx 'top/h4': No such file or directory",
            "directory", "new.md"], r
    finally:
        for s in (reader, writer):
            server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=s))
