"""The `agentfense` command-line contract: help, errors, exit statuses, timeouts, output
streams, environment, explain, mount and audit."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from harness import (agentfense_bin, assert_nothing_left, mounts_mentioning,
                     processes_mentioning, wait_for)


@pytest.mark.parametrize("command", [[], ["run"], ["explain"], ["mount"]])
def test_help_exits_zero(runner, command):
    result = runner.invoke([*command, "--help"])
    assert result.returncode == 0, result.describe()
    assert result.stdout.strip(), "help must go to stdout"


def assert_usage_error(result, *must_mention):
    assert result.returncode == 2, result.describe()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agentfense: "), result.describe()
    for text in must_mention:
        assert text in lines[0], result.describe()


@pytest.mark.parametrize("command", ["run", "explain"])
@pytest.mark.parametrize("rule", ["src/[abc=read", "src/**=admin", "=read", "x=read:high"])
def test_bad_rule_is_rejected_naming_it(runner, repo, command, rule):
    tail = ["--", "true"] if command == "run" else []
    result = runner.invoke([command, "--rule", rule, str(repo), *tail])
    pattern = rule.rpartition("=")[0]
    assert_usage_error(result, pattern or rule)  # the message names the offending rule


def test_bad_glob_in_policy_file_names_file_and_its_rule_number(runner, repo, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text('- {pattern: "src/**", permission: read}\n'
                      '- {pattern: "src/[a-", permission: write}\n')
    # Preset rules come first in the combined list; the message must count within the file.
    result = runner.invoke(["explain", "--preset", "agent-safe", "--policy", str(policy),
                            str(repo)])
    assert_usage_error(result, str(policy), "rule 2", "src/[a-")


@pytest.mark.parametrize("command", ["run", "explain"])
def test_unknown_preset(runner, repo, command):
    tail = ["--", "true"] if command == "run" else []
    assert_usage_error(runner.invoke([command, "--preset", "no-such-preset", str(repo), *tail]),
                       "no-such-preset")


def test_missing_dir(runner, tmp_path):
    assert_usage_error(runner.invoke(["run", str(tmp_path / "absent"), "--", "true"]))
    assert_usage_error(runner.invoke(["explain", str(tmp_path / "absent")]))


def test_bad_changes_mode(runner, repo):
    assert_usage_error(runner.invoke(["run", "--changes", "maybe", str(repo), "--", "true"]),
                       "maybe")


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
@pytest.mark.parametrize("script, status", [
    ("exit 0", 0), ("exit 7", 7), ("exit 255", 255), ("kill -9 $$", 128 + 9),
    ("kill -TERM $$", 128 + 15),
])
def test_exit_status_passes_through(runner, repo, script, status):
    result = runner.sh(repo, script)
    assert result.returncode == status, result.describe()


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
def test_timeout_kills_the_whole_tree(runner, repo):
    # Background children and a new session: all must die (the runner's leftover check).
    result = runner.sh(repo, "sleep 300 & setsid sleep 300 & sleep 300",
                       ["--timeout", "2"])
    assert result.returncode == 124, result.describe()
    assert result.seconds < 20, result.describe()
    assert "agentfense: " in result.stderr


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
def test_background_processes_do_not_outlive_the_command(runner, repo):
    result = runner.sh(repo, "nohup sleep 300 >/dev/null 2>&1 & setsid sleep 300 & echo up")
    assert result.stdout == "up\n" and result.returncode == 0, result.describe()
    assert result.seconds < 20


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
def test_stdout_and_stderr_are_separate_and_untouched(runner, repo):
    result = runner.sh(repo, "echo out; echo err >&2; printf 'no newline'")
    assert result.stdout == "out\nno newline", result.describe()
    assert "err\n" in result.stderr and "err" not in result.stdout
    for line in result.stderr.splitlines():
        assert line == "err" or line.startswith("agentfense: "), result.describe()


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
def test_env_and_workdir(runner, repo, secrets):
    result = runner.sh(repo, 'echo "$FOO"; pwd; env',
                       ["--env", "FOO=bar baz", "--workdir", "/workspace/src"])
    lines = result.stdout.splitlines()
    assert lines[:2] == ["bar baz", "/workspace/src"], result.describe()
    assert "AF_HOST_SECRET" not in result.stdout and secrets["host_env"] not in result.stdout


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
def test_memory_limit(runner, repo):
    grab = ["/usr/bin/python3", "-c", "b = bytearray(400 * 1024 * 1024); print('allocated')"]
    limited = runner.run(repo, grab, ["--memory", "64M"])
    assert limited.returncode != 0 and "allocated" not in limited.stdout, limited.describe()
    unlimited = runner.run(repo, grab)
    assert unlimited.stdout == "allocated\n", unlimited.describe()


EXPLAIN_LINE = re.compile(r"^(?P<level>\S+(?: \([a-z]+\))?)\s+(?P<path>\S+)\s+<-\s+(?P<rule>.+)$")


def explain(runner, repo, *args):
    result = runner.invoke(["explain", *args, str(repo)])
    assert result.returncode == 0, result.describe()
    entries = {}
    for line in result.stdout.splitlines():
        match = EXPLAIN_LINE.match(line)
        assert match, f"unparsable explain line: {line!r}"
        entries[match["path"].lstrip("/")] = (match["level"], match["rule"])
    return entries


def test_explain_shows_levels_and_deciding_rules(runner, repo):
    entries = explain(runner, repo, "--preset", "agent-safe", "--rule", "docs/*.md=view:50")
    assert entries["src/app.py"][0] == "read" and "**/*" in entries["src/app.py"][1]
    assert entries["output/report.txt"][0] == "write"
    assert "/output/**" in entries["output/report.txt"][1]
    assert entries["docs/guide.md"][0] == "view" and "docs/*.md" in entries["docs/guide.md"][1]
    for hidden in (".env", "deploy.pem", "config/secrets", ".git", "credentials.json"):
        assert hidden not in entries, f"{hidden} listed without --all"


def test_explain_all_marks_hidden(runner, repo):
    entries = explain(runner, repo, "--all")
    assert entries[".env"][0] == "none (hidden)" and "**/.env*" in entries[".env"][1]
    assert entries["config/secrets"][0] == "none (hidden)"
    assert entries["deploy.pem"][0] == "none (hidden)"
    assert entries["src/app.py"][0] == "read"


def test_explain_single_path(runner, repo):
    result = runner.invoke(["explain", str(repo), "src/app.py"])
    assert result.returncode == 0, result.describe()
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and EXPLAIN_LINE.match(lines[0])["level"] == "read", result.describe()


def test_explain_warns_of_shadowed_none_rules(runner, repo):
    # Issue 11 item 5: at equal priority the longer prefix wins, so src/.env stays
    # readable; explain keeps that and says so, with the fix, on stderr.
    result = runner.invoke(["explain", "--preset", "", "--rule", "src/**=read",
                            "--rule", "**/.env=none", str(repo)])
    assert result.returncode == 0, result.describe()
    assert re.search(r"^read\s+/src/\.env\s", result.stdout, re.M), result.describe()
    assert result.stderr.splitlines() == [
        "warning: rule 2 (**/.env -> none) is overridden at /src/.env by rule 1 "
        "(src/** -> read): give rule 2 priority >= 1"], result.describe()
    single = runner.invoke(["explain", "--preset", "", "--rule", "src/**=read",
                            "--rule", "**/.env=none", str(repo), "src/.env"])
    assert "give rule 2 priority >= 1" in single.stderr, single.describe()
    fixed = runner.invoke(["explain", "--preset", "", "--rule", "src/**=read",
                           "--rule", "**/.env=none:1", str(repo)])
    assert fixed.returncode == 0 and fixed.stderr == "", fixed.describe()
    assert "/src/.env" not in fixed.stdout


def test_explain_quotes_names_and_escapes_warnings(runner, repo):
    """A name in the codebase (an agent's applied change may have made it) reached the
    terminal raw: ESC sequences, \r and bidi controls could erase the row that says a
    secret is readable and draw one that says it is hidden. Names are quoted as git
    quotes them, in the listing and in the shadow warnings."""
    forged = "z\x1b[2A\x1b[2K\rnone (hidden)  \u202e.env"
    (repo / "src" / forged).write_text("x\n")
    result = runner.invoke(["explain", "--all", "--preset", "", "--rule", "src/**=read",
                            "--rule", "**/*.env=none", str(repo)])
    assert result.returncode == 0, result.describe()
    for raw in ("\x1b", "\r", "\u202e"):
        assert raw not in result.stdout and raw not in result.stderr, result.describe()
    quoted = '"/src/z\\033[2A\\033[2K\\rnone (hidden)  \\342\\200\\256.env"'
    assert re.search(r"^read\s+" + re.escape(quoted) + "  <- ", result.stdout, re.M), \
        result.describe()
    assert any(line.startswith("warning: ") and "\\x1b[2A" in line
               for line in result.stderr.splitlines()), result.describe()


def test_explain_with_a_preset_warns_of_nothing(runner, repo):
    result = runner.invoke(["explain", "--preset", "agent-safe", str(repo)])
    assert result.returncode == 0 and result.stderr == "", result.describe()


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does for `cmd &`


@pytest.mark.parametrize("stop_signal, inherited", [
    (signal.SIGTERM, None), (signal.SIGINT, None), (signal.SIGINT, ignore_sigint)])
def test_mount_serves_until_signal_then_unmounts(agentfense, repo, tmp_path, stop_signal,
                                                  inherited):
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    proc = subprocess.Popen([agentfense_bin(), "mount", str(repo), str(mountpoint)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=inherited)
    try:
        assert wait_for(lambda: mounts_mentioning([str(mountpoint)]), 10), "never mounted"
        names = os.listdir(mountpoint)
        assert "src" in names and ".env" not in names and ".git" not in names
        assert (mountpoint / "src" / "app.py").read_text() == (repo / "src/app.py").read_text()
        with pytest.raises(FileNotFoundError):
            (mountpoint / ".env").read_text()
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=10) == 0, proc.stderr.read().decode()
        assert not mounts_mentioning([str(mountpoint)]), "still mounted after exit"
        assert os.listdir(mountpoint) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        # Best-effort cleanup if the test failed mid-way; the return code is irrelevant.
        subprocess.run(["umount", "-l", str(mountpoint)], stderr=subprocess.DEVNULL)


@pytest.mark.skipif(os.geteuid() != 0, reason="allow_other mounts are root's")
@pytest.mark.parametrize("shared", [False, True])
def test_mount_lets_only_its_owner_in_unless_shared(agentfense, shared):
    # As root the view is mounted allow_other (its owner may be the sudo user), and the
    # root showed 0555 whatever the directory's own mode: any local user read the files
    # of a 0700 directory through a mountpoint they could reach (attack sweep I, F6).
    # pytest's base directory is root's alone: work where any user may walk, as a
    # person's mountpoint often is.
    tmp_path = Path(tempfile.mkdtemp())
    os.chmod(tmp_path, 0o755)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "notes.txt").write_text("root-only-content\n")
    os.chmod(private / "notes.txt", 0o644)
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    proc = subprocess.Popen([agentfense_bin(), "mount", "--preset", "read-only",
                             *(["--shared"] if shared else []), str(private), str(mountpoint)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: mounts_mentioning([str(mountpoint)]), 10), "never mounted"
        assert (mountpoint / "notes.txt").read_text() == "root-only-content\n"
        other = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534",
                                "--clear-groups", "cat", str(mountpoint / "notes.txt")],
                               capture_output=True, text=True)
        if shared:
            assert other.stdout == "root-only-content\n", other
        else:
            assert other.returncode != 0 and "Permission denied" in other.stderr, other
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        subprocess.run(["umount", "-l", str(mountpoint)], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.parametrize("runtime", ["bwrap", "docker"])
def test_audit_records_denied_access(runner, repo, tmp_path, secrets):
    audit = tmp_path / "audit.jsonl"
    runner.sh(repo, "cat /workspace/.env; cat /workspace/src/app.py > /dev/null",
              ["--audit", str(audit)])
    text = audit.read_text()
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    denied = [e for e in events if e.get("outcome") == "denied" and "op" in e
              and str(e.get("path", "")).lstrip("/") == ".env"]
    assert denied, f"no denied event for .env in:\n{text[:3000]}"
    for secret in secrets.values():
        assert secret not in text


def test_sigkill_of_agentfense_leaves_nothing_behind(runner, repo):
    """A supervisor killed with SIGKILL gets no chance to clean up: its sandbox and its
    mount process must still go (they die with it), and the next run sweeps its run dir."""
    marker = f"af-crash-{os.getpid()}-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [runner.binary, "run", "--env", f"AF_RUN_MARKER={marker}", str(repo), "--",
         "sh", "-c", "sleep 300"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (mounts_mentioning([f"/run-{proc.pid}-"]) and
                   processes_mentioning([marker])):
            assert proc.poll() is None, "agentfense exited before the sandbox started"
            assert time.monotonic() < deadline, "sandbox never started"
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    assert_nothing_left(marker, repo, proc.pid, grace_seconds=10)
    runtime_root = Path("/run/agentfense")
    # The crashed run's directory stays until a run sweeps it: ours below, or one of the
    # suites running beside this one (any `agentfense run`/`mcp` sweeps at start), so it
    # may already be gone here; what matters is that it is gone after the next run.
    assert runner.run(repo, ["true"]).returncode == 0
    leftovers = [p.name for p in runtime_root.iterdir() if p.name.startswith(f"run-{proc.pid}-")]
    assert not leftovers, f"stale run directory not swept: {leftovers}"
    layer_root = Path("/var/lib/agentfense/cli-layers")  # root's write layers (run_dir.h)
    if layer_root.is_dir():
        layers = [p.name for p in layer_root.iterdir() if p.name.startswith(f"run-{proc.pid}-")]
        assert not layers, f"stale write layer not swept: {layers}"
    # Other suites create and remove cgroups meanwhile: a directory gone mid-walk is not
    # an error here (Path.rglob raised FileNotFoundError on one in a CI run).
    stale_cgroups = [os.path.join(root, name)
                     for root, dirs, _ in os.walk("/sys/fs/cgroup", onerror=lambda _: None)
                     for name in dirs if name.startswith(f"exec-{proc.pid}-")]
    assert not stale_cgroups, f"stale cgroups not swept: {stale_cgroups}"


class _RecordingRestServer:
    """A stand-in REST server on 127.0.0.1 that records the Authorization headers it got
    and answers every GET with 404 SANDBOX_NOT_FOUND."""

    def __init__(self):
        import http.server
        import threading
        seen = self.authorizations = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                seen.append(self.headers.get("Authorization"))
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"message":"no such sandbox","reason":"SANDBOX_NOT_FOUND"}')

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("command", ["mcp", "audit"])
def test_api_key_never_travels_in_clear_text_to_another_host(runner, command):
    """`mcp --server` and `audit --server` sent the API key as a Bearer header over
    plain http:// to any host (the SDK refuses that). Over http:// a key goes only to a
    loopback address; anything else is refused before connecting, naming https:// and
    --ca-cert. 0.0.0.0 reaches this machine but is not a loopback address: it stands in
    for another host here."""
    server = _RecordingRestServer()
    key = f"afk_{uuid.uuid4().hex}"
    try:
        remote = runner.invoke([command, "--server", f"http://0.0.0.0:{server.port}",
                                "--sandbox", "sb_x"], timeout=60,
                               extra_env={"AGENTFENSE_API_KEY": key})
        assert server.authorizations == [], remote.describe()
        assert_usage_error(remote, "refusing to send the API key", "in clear text",
                           "https://", "--ca-cert")
        local = runner.invoke([command, "--server", f"http://127.0.0.1:{server.port}",
                               "--sandbox", "sb_x"], timeout=60,
                              extra_env={"AGENTFENSE_API_KEY": key})
        assert server.authorizations and server.authorizations[0] == f"Bearer {key}", \
            local.describe()
    finally:
        server.close()
