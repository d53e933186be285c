"""The audit trail of `agentfense run --audit FILE` (docs/audit.md): the exact events real
commands produce, what the agent can never learn from it, and `audit verify`.

Policy: agent-safe plus docs/*.md at view, so the repo has all four levels: .env (none),
docs/*.md (view), src/ (read), output/ (write).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HIDDEN_FILES, VISIBLE_FILES

LEVELS = ["--preset", "agent-safe", "--rule", "docs/*.md=view:50"]
READ_RULE = "**/* -> read (priority 0, glob)"
WRITE_RULE = "/output/** -> write (priority 10, glob)"


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    return tmp_path / "trail.jsonl"


def audited(runner, repo, trail, script, *extra):
    result = runner.sh(repo, script, [*LEVELS, "--audit", str(trail), "--changes", "discard",
                                      *extra])
    events = [json.loads(line) for line in trail.read_text().splitlines()]
    return result, events


def file_events(events, op=None, path=None):
    return [e for e in events if e["kind"] == "file" and (op is None or e["op"] == op)
            and (path is None or e.get("path") == path)]


def total(events):
    return sum(e["count"] for e in events)


def test_cat_is_one_open_read_per_open_with_level_and_rule(runner, repo, trail):
    result, events = audited(runner, repo, trail,
                             "cat src/util.py >/dev/null; cat src/util.py >/dev/null")
    assert result.returncode == 0, result.describe()
    reads = file_events(events, "open_read", "/src/util.py")
    # First open written at once, the second coalesced into a repeat line at command end.
    assert [(e["count"], e.get("repeat", False)) for e in reads] == [(1, False), (1, True)]
    first = reads[0]
    assert (first["level"], first["rule"], first["outcome"]) == ("read", READ_RULE, "allowed")
    assert "errno" not in first
    assert first["sandbox"].startswith("run-") and first["ts"].endswith("Z")
    # Reads are never recorded per READ request: nothing else about this file.
    assert len(file_events(events, path="/src/util.py")) == 2


def test_grep_r_records_each_visible_file_once_and_each_listing(runner, repo, trail):
    result, events = audited(runner, repo, trail, "grep -r TODO . >/dev/null")
    assert result.returncode == 2, result.describe()  # the view files: Permission denied
    read = {e["path"] for e in file_events(events, "open_read")}
    readable = {"/" + rel for rel in VISIBLE_FILES if not rel.startswith("docs/")}
    assert read == readable, events
    assert all(total(file_events(events, "open_read", p)) == 1 for p in readable)
    listed = {e["path"] for e in file_events(events, "readdir")}
    assert listed == {"/", "/src", "/src/lib", "/docs", "/config", "/keys", "/output"}
    # grep tries the view files and is refused by the kernel: recorded, with the rule.
    refused = {e["path"]: e for e in file_events(events, "open")}
    assert set(refused) == {"/docs/guide.md", "/docs/api.md"}
    assert all(e["outcome"] == "denied" and e["errno"] == "EACCES" and e["level"] == "view"
               and e["rule"] == "docs/*.md -> view (priority 50, glob)"
               for e in refused.values())


def test_find_lists_without_reading(runner, repo, trail):
    result, events = audited(runner, repo, trail, "find . >/dev/null")
    assert result.returncode == 0, result.describe()
    assert file_events(events, "open_read") == []
    assert {e["path"] for e in file_events(events, "readdir")} == {
        "/", "/src", "/src/lib", "/docs", "/config", "/keys", "/output"}


def test_writes_renames_and_removals(runner, repo, trail):
    script = ("echo new > output/a.txt && mv output/a.txt output/b.txt && "
              "rm output/stale.txt && mkdir output/d && rmdir output/d && "
              "echo more >> output/report.txt")
    result, events = audited(runner, repo, trail, script)
    assert result.returncode == 0, result.describe()
    got = [(e["op"], e.get("type"), e["path"], e.get("path2"), e["outcome"])
           for e in file_events(events) if e["op"] not in ("readdir", "lookup")]
    assert got == [
        ("create", "file", "/output/a.txt", None, "allowed"),
        ("open_write", None, "/output/a.txt", None, "allowed"),
        ("rename", None, "/output/a.txt", "/output/b.txt", "allowed"),
        ("unlink", "file", "/output/stale.txt", None, "allowed"),
        ("create", "dir", "/output/d", None, "allowed"),
        ("unlink", "dir", "/output/d", None, "allowed"),
        ("open_write", None, "/output/report.txt", None, "allowed"),
    ], events
    assert all(e["rule"] == WRITE_RULE and e["level"] == "write" for e in file_events(events)
               if e["op"] != "readdir")


def test_a_write_is_in_the_trail_before_the_rename_that_follows_it(runner, repo, trail):
    """Opens are recorded from the kernel's fanotify queue by a thread of the fs, renames
    by the request itself; a rename arriving right after the close (one process, no exec
    in between; fast over io_uring) was recorded first in 10 of 10 runs before the fs
    flushed the queue ahead of recording a rename or removal."""
    script = ("python3 -c \"import os\n"
              "for i in range(20):\n"
              "    open(f'output/a{i}.txt', 'w').write('x')\n"
              "    os.rename(f'output/a{i}.txt', f'output/b{i}.txt')\n"
              "    os.unlink(f'output/b{i}.txt')\n\"")
    result, events = audited(runner, repo, trail, script)
    assert result.returncode == 0, result.describe()
    order = [(e["op"], e["path"]) for e in file_events(events)
             if e["op"] in ("open_write", "rename", "unlink")]
    for i in range(20):
        written = order.index(("open_write", f"/output/a{i}.txt"))
        renamed = order.index(("rename", f"/output/a{i}.txt"))
        assert written < renamed, order


def test_refused_changes_carry_the_errno_and_the_deciding_rule(runner, repo, trail):
    # output/ is writable, but one name in it is read-only: the kernel lets the unlink and
    # rename through (the directory is writable) and the daemon refuses by the name's level.
    result, events = audited(runner, repo, trail,
                             "rm output/report.txt; mv output/stale.txt output/report.txt; "
                             "mv output/stale.txt src/x.py", "--rule",
                             "output/report.txt=read:150")
    assert result.returncode != 0
    denied = [(e["op"], e["path"], e.get("path2"), e["errno"], e["level"], e["rule"])
              for e in file_events(events) if e["outcome"] == "denied"]
    rule = "output/report.txt -> read (priority 150, glob)"
    assert ("unlink", "/output/report.txt", None, "EACCES", "read", rule) in denied, events
    assert ("rename", "/output/stale.txt", "/output/report.txt", "EACCES", "read", rule) in denied


def test_hidden_lookup_is_denied_hidden_and_the_agent_sees_only_absence(runner, repo, trail,
                                                                        secrets):
    result, events = audited(runner, repo, trail,
                             "cat .env; cat src/.env; ls -a; stat credentials.json; true")
    assert result.stderr.count("No such file or directory") == 3, result.describe()
    hidden = {e["path"]: e for e in file_events(events, "lookup")}
    assert set(hidden) == {"/.env", "/src/.env", "/credentials.json"}, events
    for event in hidden.values():
        assert (event["outcome"], event["errno"], event["reason"], event["level"]) == (
            "denied", "ENOENT", "hidden", "none")
        assert event["rule"].endswith("-> none (priority 100, glob)")
    # Listing shows nothing hidden, and no hidden name is read, listed or reported
    # anywhere else in the trail.
    others = [e for e in file_events(events) if e["op"] != "lookup"]
    for rel in HIDDEN_FILES:
        assert all(e.get("path") != "/" + rel for e in others)
    text = trail.read_text()
    assert all(value not in text for value in secrets.values())


def test_a_probe_of_an_absent_hidden_name_is_recorded_as_a_present_one(runner, repo, trail):
    # Only lookups of present hidden names were recorded: the trail told which hidden
    # paths exist, and a probe for secrets that are not there left no trace (attack
    # sweep G4). Whether a line appears now depends on the name alone.
    result, events = audited(runner, repo, trail,
                             "cat .env; cat .env.absent; cat src/absent.pem; cat absent.txt; true")
    assert result.stderr.count("No such file or directory") == 4, result.describe()
    lookups = {e["path"]: e for e in file_events(events, "lookup")}
    assert {"/.env", "/.env.absent", "/src/absent.pem"} <= set(lookups), events
    assert "/absent.txt" not in lookups  # not hidden by any rule: nothing to record
    fields = ("outcome", "errno", "reason", "level", "rule")
    present = tuple(lookups["/.env"][f] for f in fields)
    assert tuple(lookups["/.env.absent"][f] for f in fields) == present
    assert lookups["/src/absent.pem"]["reason"] == "hidden"


def test_view_attempts_are_recorded_as_refused_opens(runner, repo, trail):
    result, events = audited(runner, repo, trail,
                             "cat docs/guide.md; cat docs/guide.md; ls -l docs >/dev/null")
    assert result.stderr.count("Permission denied") == 2, result.describe()
    refused = file_events(events, "open", "/docs/guide.md")
    assert total(refused) == 2, events
    assert all(e["outcome"] == "denied" and e["reason"] == "mode" for e in refused)
    # `ls -l` (metadata, allowed at view) is no refusal.
    assert file_events(events, "open", "/docs/api.md") == []


def test_security_events_name_rules_limits_command_and_result(runner, repo, trail):
    result, events = audited(runner, repo, trail, "echo hi; exit 3", "--pids", "64")
    assert result.returncode == 3
    security = [e for e in events if e["kind"] == "security"]
    assert [e["op"] for e in security] == ["sandbox_created", "exec", "discard",
                                           "sandbox_destroyed"]
    created, exec_, _, _ = security
    assert {"pattern": "docs/*.md", "permission": "view", "priority": 50,
            "type": "glob"} in created["rules"]
    assert created["limits"]["pids"] == 64 and created["network"] is False
    assert exec_["command"] == "sh -c echo hi; exit 3" and exec_["exit_code"] == 3
    assert exec_["timed_out"] is False and exec_["duration_ms"] >= 0
    assert events[0]["op"] == "sandbox_created" and events[-1]["op"] == "sandbox_destroyed"


def test_timeout_is_recorded(runner, repo, trail):
    result, events = audited(runner, repo, trail, "sleep 30", "--timeout", "1")
    assert result.returncode == 124
    exec_ = [e for e in events if e["op"] == "exec"][0]
    assert exec_["timed_out"] is True


def test_verify_passes_then_fails_after_one_byte_or_one_line(runner, repo, trail, agentfense):
    audited(runner, repo, trail, "cat src/app.py src/util.py README.md >/dev/null")
    ok = subprocess.run([agentfense, "audit", "verify", str(trail)], capture_output=True,
                        text=True)
    assert ok.returncode == 0 and " ok, " in ok.stdout, ok.stdout + ok.stderr
    pristine = trail.read_bytes()
    lines = pristine.splitlines(keepends=True)
    assert len(lines) >= 5

    def verify_fails_at(data: bytes, line: int) -> None:
        trail.write_bytes(data)
        bad = subprocess.run([agentfense, "audit", "verify", str(trail)], capture_output=True,
                             text=True)
        assert bad.returncode == 1, bad.stdout
        assert f"{trail}:{line}: FAILED" in bad.stdout, bad.stdout

    # One byte of a path: README.md -> README.me
    index = next(i for i, l in enumerate(lines) if b'"/README.md"' in l)
    edited = lines[index].replace(b'"/README.md"', b'"/README.me"')
    verify_fails_at(b"".join(lines[:index] + [edited] + lines[index + 1:]), index + 1)
    # One byte of the outcome, recomputing nothing: "allowed" -> "Allowed".
    edited = lines[2].replace(b'"allowed"', b'"Allowed"', 1)
    verify_fails_at(b"".join(lines[:2] + [edited] + lines[3:]), 3)
    # A line removed from the middle, and the first line removed.
    verify_fails_at(b"".join(lines[:2] + lines[3:]), 3)
    verify_fails_at(b"".join(lines[1:]), 1)
    # A line cut mid-write.
    verify_fails_at(pristine[:-10], len(lines))


def test_writers_continue_one_chain_and_repair_a_torn_tail(runner, repo, trail, agentfense):
    audited(runner, repo, trail, "cat README.md >/dev/null")
    with trail.open("ab") as f:
        f.write(b'{"v":1,"seq":99,"torn')  # a writer killed mid-line
    audited(runner, repo, trail, "cat src/app.py >/dev/null")
    events = [json.loads(line) for line in trail.read_text().splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    torn = [e for e in events if e["op"] == "torn_tail_removed"]
    assert len(torn) == 1 and torn[0]["kind"] == "audit" and torn[0]["bytes"] == 21
    ok = subprocess.run([agentfense, "audit", "verify", str(trail)], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stdout


def inside_trail(how: str, repo: Path, tmp_path: Path) -> Path:
    """A trail path that lands in repo/output, spelled `how`."""
    if how == "direct":
        return repo / "output" / "t.jsonl"
    if how == "dotdot":
        (tmp_path / "elsewhere").mkdir()
        return tmp_path / "elsewhere" / ".." / repo.name / "output" / "t.jsonl"
    if how == "symlink":
        (tmp_path / "link").symlink_to(repo / "output")
        return tmp_path / "link" / "t.jsonl"
    if how == "bind":
        # Same directory, another path: only (st_dev, st_ino) tells them apart.
        (tmp_path / "bound").mkdir()
        subprocess.run(["mount", "--bind", str(repo), str(tmp_path / "bound")], check=True)
        return tmp_path / "bound" / "output" / "t.jsonl"
    assert how == "hardlink"
    (repo / "output" / "t.jsonl").write_text("")
    os.link(repo / "output" / "t.jsonl", tmp_path / "t.jsonl")
    return tmp_path / "t.jsonl"


@pytest.mark.parametrize("how", ["direct", "dotdot", "symlink", "bind", "hardlink"])
@pytest.mark.parametrize("command", ["run", "mcp", "mount"])
def test_trail_inside_the_codebase_is_refused(runner, repo, tmp_path, command, how):
    """A trail the agent can reach is a trail it can read, or replace with a forged chain
    that verifies (through the MCP commit tool): every entry with DIR and --audit refuses it."""
    if how == "bind" and os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    trail = inside_trail(how, repo, tmp_path)
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    args = {"run": ["run", *LEVELS, "--audit", str(trail), str(repo), "--", "true"],
            "mcp": ["mcp", *LEVELS, "--audit", str(trail), str(repo)],
            "mount": ["mount", *LEVELS, "--audit", str(trail), str(repo), str(mountpoint)]}
    try:
        result = runner.invoke(args[command], timeout=30)
    finally:
        for mounted in (mountpoint, tmp_path / "bound"):
            subprocess.run(["umount", "-l", str(mounted)], stderr=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert ("inside DIR" if how != "hardlink" else "hard links") in result.stderr
    assert (repo / "output" / "t.jsonl").read_text() == "" if how == "hardlink" else \
        not (repo / "output" / "t.jsonl").exists()


def test_trail_beside_the_codebase_is_accepted(runner, repo, tmp_path):
    """The identity walk stops at the root: a sibling of DIR is fine."""
    trail = repo.parent / "beside.jsonl"
    result = runner.invoke(["mcp", *LEVELS, "--audit", str(trail), str(repo)])
    assert result.returncode == 0, result.stderr
    assert trail.exists()


def test_kill_9_keeps_what_was_written_verifiable(runner, repo, trail, agentfense):
    argv = [agentfense, "run", *LEVELS, "--audit", str(trail), "--changes", "discard",
            str(repo), "--", "sh", "-c", "cat src/app.py >/dev/null; sleep 30"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if trail.exists() and b"/src/app.py" in trail.read_bytes():
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert b"/src/app.py" in trail.read_bytes()
    ok = subprocess.run([agentfense, "audit", "verify", str(trail)], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stdout


def test_timeline_denied_filter_and_summary(runner, repo, trail, agentfense):
    audited(runner, repo, trail, "cat .env; cat docs/api.md; cat src/app.py; "
                                 "echo x > output/n.txt; true")
    denied = subprocess.run([agentfense, "audit", "--denied", str(trail)], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    assert len(denied) == 2 and all(" DENIED " in line for line in denied), denied
    assert "lookup" in denied[0] and "/.env" in denied[0] and "hidden, ENOENT" in denied[0]
    summary = json.loads(subprocess.run([agentfense, "audit", "--summary", "--json", str(trail)],
                                        capture_output=True, text=True, check=True).stdout)
    assert [u["path"] for u in summary["files_read"]] == ["/src/app.py"]
    assert [u["path"] for u in summary["files_written"]] == ["/output/n.txt"]
    assert [u["path"] for u in summary["denied"]] == ["/.env", "/docs/api.md"]
    assert len(summary["commands"]) == 1 and summary["dropped"] == 0


# A name that moves the cursor up and erases a line (CSI 1A, CSI 2K), a bidi override, a
# newline with a forged event after it, and the same bytes in the command line.
FORGED = "x\x1b[1A\x1b[2K\u202eelif\nDENIED file open_read .env"
FORGE = """touch "output/$(printf 'x\\033[1A\\033[2K\\342\\200\\256elif\\nDENIED file open_read .env')" """


def test_names_and_commands_cannot_forge_or_hide_timeline_lines(runner, repo, trail, agentfense):
    """The timeline and the summary are what a security reviewer reads: an agent's file
    names and command lines reached the terminal raw, so one name could erase the line
    above it (its own denied attempt) or print a forged event of its own."""
    result, events = audited(runner, repo, trail, "cat .env; " + FORGE, "--rule",
                             "output/**=write:10")
    assert any(e.get("path", "").startswith("/output/x\x1b") for e in events), events
    assert any(FORGED in e.get("path", "") for e in events)
    for argv in (["audit", str(trail)], ["audit", "--summary", str(trail)]):
        out = subprocess.run([agentfense, *argv], capture_output=True, check=True).stdout
        text = out.decode()
        assert "\x1b" not in text and "\u202e" not in text, text
        assert not any(line.startswith("DENIED file") for line in text.splitlines()), text
        if argv[1] == str(trail):  # one line per event, each starting with its time
            lines = text.splitlines()
            assert len(lines) == len(events), text
            assert all(line[:2].isdigit() and line[2] == ":" for line in lines), text
            # The name is shown quoted as git quotes paths, the command escaped.
            assert '"/output/x\\033[1A\\033[2K\\342\\200\\256elif\\nDENIED' in text, text
            assert any(" DENIED " in line and "/.env" in line for line in lines), text


DEFAULT_AUDIT_MAX_BYTES = 256 << 20  # the server's audit.max_sandbox_bytes default


def nearly_full_trail(path: Path) -> Path:
    """A trail already at the default bound, sparse so it costs no disk: the fs reads only
    its last line to chain on, and its size to know it is full."""
    with open(path, "wb") as f:
        f.truncate(DEFAULT_AUDIT_MAX_BYTES)
        f.seek(0, os.SEEK_END)
        f.write(b"\n")
    return path


def new_events(path: Path) -> list[dict]:
    """The events written after the sparse prefix."""
    with open(path, "rb") as f:
        f.seek(DEFAULT_AUDIT_MAX_BYTES + 1)
        return [json.loads(line) for line in f.read().splitlines()]


def size_limit_notices(events):
    return [e for e in events
            if e["op"] == "events_dropped" and "size limit" in e["why"]]


def mcp_run(agentfense, repo, trail, command, *extra):
    """`agentfense mcp` over stdio: initialize, one `run` tool call, close stdin."""
    proc = subprocess.Popen([agentfense, "mcp", *LEVELS, "--audit", str(trail), *extra,
                             str(repo)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-03-26", "capabilities": {},
                    "clientInfo": {"name": "test", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "run", "arguments": {"command": command}}}]
    for message in messages:
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        while "id" in message:
            reply = json.loads(proc.stdout.readline())
            if reply.get("id") == message["id"]:
                assert "error" not in reply, reply
                break
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()


@pytest.mark.parametrize("command", ["run", "mcp"])
def test_trails_are_bounded_by_default(runner, repo, tmp_path, agentfense, command):
    """Unbounded, an agent wrote 24 MB/s of its own file events to the host disk, outside
    its --disk quota: run and mcp now stop writing file events at 256 MiB, as the server."""
    trail = nearly_full_trail(tmp_path / "trail.jsonl")
    script = "cat README.md src/app.py >/dev/null; echo x > output/new.txt"
    if command == "run":
        result = runner.sh(repo, script, [*LEVELS, "--audit", str(trail), "--changes", "discard"])
        assert result.returncode == 0, result.stderr
    else:
        mcp_run(agentfense, repo, trail, script, "--changes", "discard")
    events = new_events(trail)
    assert [e for e in events if e["kind"] == "file"] == []
    assert size_limit_notices(events)
    if command == "run":
        assert [e["op"] for e in events if e["kind"] == "security"][-1] == "sandbox_destroyed"


def test_audit_max_bytes_zero_is_no_limit(runner, repo, tmp_path):
    trail = nearly_full_trail(tmp_path / "trail.jsonl")
    result = runner.sh(repo, "cat README.md", [*LEVELS, "--audit", str(trail),
                                               "--audit-max-bytes", "0"])
    assert result.returncode == 0, result.stderr
    events = new_events(trail)
    assert file_events(events, "open_read", "/README.md")
    assert not size_limit_notices(events)


def test_audit_max_bytes_bounds_what_the_agent_writes(runner, repo, trail):
    """Rounds of 300 creations with long names: past 64 KiB only a count is written."""
    script = ("for r in 1 2 3 4 5 6 7 8 9 10; do for i in $(seq 300); do "
              f": > output/{'n' * 200}$r.$i; done; sleep 0.3; done")
    result, events = audited(runner, repo, trail, script, "--audit-max-bytes", "64k")
    assert result.returncode == 0, result.stderr
    assert len(file_events(events, "create")) < 1500
    assert size_limit_notices(events)
    assert total(file_events(events, "create")) + sum(
        e["count"] for e in size_limit_notices(events)) >= 3000
    assert [e["op"] for e in events if e["kind"] == "security"][-1] == "sandbox_destroyed"


@pytest.mark.parametrize("command", ["run", "mcp", "mount"])
def test_a_bad_audit_max_bytes_is_named(runner, repo, tmp_path, command):
    args = {"run": ["run", "--audit-max-bytes", "12x", str(repo), "--", "true"],
            "mcp": ["mcp", "--audit-max-bytes", "12x", str(repo)],
            "mount": ["mount", "--audit-max-bytes", "12x", str(repo), str(tmp_path)]}
    result = runner.invoke(args[command], timeout=30)
    assert result.returncode == 2
    assert "--audit-max-bytes" in result.stderr and "12x" in result.stderr


@pytest.mark.parametrize("flag,value", [("--op", "open-read"), ("--path", "/**"),
                                        ("--path", "/docs/../.env"),
                                        ("--since", "2026-02-31T25:61:61Z")])
def test_local_filters_that_could_never_match_are_refused(agentfense, tmp_path, flag, value):
    trail = tmp_path / "trail.jsonl"
    trail.write_text("")
    result = subprocess.run([agentfense, "audit", str(trail), flag, value], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert f"{flag}: '{value}'" in result.stderr


def test_local_path_filter_takes_a_quoted_name(runner, repo, trail, agentfense):
    """A name that is not UTF-8, given as the trail writes it, matches its own events."""
    result, events = audited(runner, repo, trail, "printf x > \"output/$(printf 'b\\377')\"")
    assert result.returncode == 0, result.stderr
    out = subprocess.run([agentfense, "audit", str(trail), "--json", "--path",
                          '"/output/b\\377"'], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert {"create", "open_write"} <= {json.loads(line)["op"] for line in out.stdout.splitlines()}


def children_named(pid: int, name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and stat.split("(", 1)[1].startswith(name + ")"):
            found.append(int(entry.name))
    return found


def set_open_file_limit(pid: int, soft: int) -> None:
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={soft}:"], check=True)


def test_opens_are_recorded_again_after_the_fs_ran_out_of_descriptors(agentfense, repo, trail):
    """Each open event reaches the fs as a descriptor. When the fs process had none left
    (its open-file limit reached, even for a moment), reading the events failed with
    EMFILE and the watch stopped for good: no open was recorded for the rest of the
    sandbox's life. Now the events of that moment are counted as dropped and recording
    goes on."""
    script = ("cat src/app.py src/util.py >/dev/null; sleep 2; "
              "cat src/util.py >/dev/null; sleep 2; cat README.md >/dev/null")
    argv = [agentfense, "run", *LEVELS, "--audit", str(trail), "--changes", "discard",
            str(repo), "--", "sh", "-c", script]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (trail.exists() and b"/src/util.py" in trail.read_bytes()):
            assert time.monotonic() < deadline and proc.poll() is None, "no first opens"
            time.sleep(0.05)
        [fs] = children_named(proc.pid, "agentfense-fs")
        limit = int(next(line.split()[3] for line in Path(f"/proc/{fs}/limits").read_text()
                         .splitlines() if line.startswith("Max open files")))
        set_open_file_limit(fs, 3)  # no descriptor can be made: the second cat's event
        time.sleep(2)
        set_open_file_limit(fs, limit)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in trail.read_text().splitlines()]
    assert file_events(events, "open_read", "/README.md"), "opens after the shortage are lost"
    dropped = [e for e in events if e["kind"] == "audit" and e["op"] == "events_dropped"]
    assert dropped and "no file descriptor left" in dropped[0]["why"], dropped
