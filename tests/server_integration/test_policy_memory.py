"""What a sandbox's rules take in memory while it runs, in its fs process and in the
server. The automata that match paths build their DFA states lazily from the names they
see, and each could grow to 64 MiB: two small rules (far under any compile charge) and
names made up inside the sandbox took its fs process from 6 to 180 MiB and the server by
95 MiB on one listing (sweep Z, Z1). Each automaton has a small budget now, the large one
only when its program needs it (src/policy/re2_options.h)."""

from __future__ import annotations

import pytest

from conftest import make_codebase, make_sandbox
from server_harness import fs_processes, rule, sb, serving
from server_memory import MIB, rss_bytes

# An "a" twenty bytes before a name's end: a DFA state per 21-byte window of "ab" names.
BLOWUP_RULES = [rule("**/*a" + "?" * 20, "read", 1), rule("**", "write")]

MADE_UP_NAMES = r"""python3 - <<'PY'
import os, random
random.seed(7)
os.chdir('/workspace')
for i in range(3000):
    name = ''.join(random.choice('ab') for _ in range(200))
    try:
        open(name, 'w').close()  # refused for a read-only name
    except PermissionError:
        pass
    os.path.exists(name)
PY"""


@pytest.fixture(scope="module")
def server():
    yield from serving("af-policy-memory-")


def test_names_made_up_inside_a_sandbox_do_not_grow_its_rule_automata(server):
    sandbox = make_sandbox(server, make_codebase(server, files={}), rules=BLOWUP_RULES)
    [fs] = fs_processes(server, sandbox)
    fs_before, server_before = rss_bytes(fs), rss_bytes(server.proc.pid)
    result = server.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox, command=MADE_UP_NAMES),
                                   timeout=300)
    assert result.exit_code == 0, result.stderr
    listed = server.sandboxes.ListSandboxFiles(
        sb.ListSandboxFilesRequest(sandbox_id=sandbox, recursive=True), timeout=300)
    assert len(listed.files) >= 1000
    fs_grown = (rss_bytes(fs) - fs_before) // MIB
    server_grown = (rss_bytes(server.proc.pid) - server_before) // MIB
    print(f"fs grew {fs_grown} MiB, server {server_grown} MiB")
    # Before: 160 MiB and 55 MiB (the listing matched every name in the server). Now ~50
    # and ~11: the fs process's three sets of 8 MiB and more small automata, the names.
    assert fs_grown < 80, f"the fs process grew by {fs_grown} MiB"
    assert server_grown < 35, f"the server grew by {server_grown} MiB"
    # Still decided by the rules: a name with an "a" twenty bytes before its end is read-only.
    check = server.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox, command=(
        "touch " + "b" * 10 + "a" + "b" * 20 + " 2>&1; echo $?; touch " + "b" * 31 + "; echo $?")))
    assert check.stdout.split()[-2:] == ["1", "0"], check.stdout
