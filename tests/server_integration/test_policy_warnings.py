"""Issue 11 item 5: a `none` rule that a rule of lower or equal priority overrides at an
existing path is reported when the sandbox is created (Sandbox.warnings, the log), not
silent. The precedence itself is unchanged: the secret stays readable as the rules say."""

from __future__ import annotations

import requests

from conftest import SECRET, make_codebase, run
from server_harness import AGENT_SAFE, rule, sb

FILES = {
    "src/app.py": b"print('hi')\n",
    "src/.env": f"TOKEN={SECRET}\n".encode(),
    "src/deep/.env": b"DEEP=1\n",
    ".env": b"ROOT=1\n",
    "docs/.env": b"DOCS=1\n",
}
SHADOWED = [rule("/src/**", "read"), rule("**/.env", "none")]


def warning_for(path: str) -> str:
    return (f"rule 2 (**/.env -> none) is overridden at {path} by rule 1 (/src/** -> read): "
            "give rule 2 priority >= 1")


def test_create_names_every_shadowed_path_with_the_fix(server):
    codebase = make_codebase(server, FILES)
    created = server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
        codebase_id=codebase, permissions=SHADOWED))
    assert sorted(created.warnings) == [warning_for("/src/.env"), warning_for("/src/deep/.env")]
    # The rules stay as written: the warning is about exactly what the agent then sees.
    server.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=created.id))
    r = run(server, created.id, "cat src/.env; ls -a . docs")
    assert SECRET in r.stdout and "ROOT=1" not in r.stdout and ".env" not in r.stdout.split()
    # Not stored: later replies describe the sandbox, not a past walk of the codebase.
    got = server.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=created.id))
    assert list(got.warnings) == []
    log = server.read_log()
    assert "sandbox.policy_warning" in log and created.id in log
    assert "/src/deep/.env" in log
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=created.id))


def test_the_fix_and_the_presets_give_no_warning(server):
    codebase = make_codebase(server, FILES)
    for rules in (AGENT_SAFE, [rule("/src/**", "read"), rule("**/.env", "none", 1)],
                  [rule("**", "read")], []):
        created = server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
            codebase_id=codebase, permissions=rules))
        assert list(created.warnings) == [], rules
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=created.id))


def test_many_shadowed_paths_are_capped_and_counted(server):
    files = {f"src/m{i:03}/.env": b"X=1\n" for i in range(60)}
    codebase = make_codebase(server, files)
    created = server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
        codebase_id=codebase, permissions=SHADOWED))
    assert len(created.warnings) == 50
    assert all("priority" in text for text in created.warnings)
    assert "11 more paths" in created.warnings[-1], created.warnings[-1]
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=created.id))


def test_rest_reply_carries_the_warnings(server):
    codebase = make_codebase(server, FILES)
    r = requests.post(f"{server.http}/v1/sandboxes", json={"codebaseId": codebase, "permissions": [
        {"pattern": "/src/**", "permission": "read"}, {"pattern": "**/.env", "permission": "none"}]})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["warnings"]) == [warning_for("/src/.env"),
                                            warning_for("/src/deep/.env")]
    got = requests.get(f"{server.http}/v1/sandboxes/{r.json()['id']}").json()
    assert got["warnings"] == []
    requests.delete(f"{server.http}/v1/sandboxes/{r.json()['id']}")
