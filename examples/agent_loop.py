"""A scripted "agent" working in an AgentFense sandbox, showing what each permission
level means from the agent's side. No LLM: the agent's steps are a fixed list, each a
shell command it would have chosen, with what the sandbox answered.

    python examples/agent_loop.py            # needs a server: agentfense server
    AGENTFENSE_ENDPOINT=host:port python examples/agent_loop.py

Levels used (DESIGN.md): none = absent, view = name only, read = content, write = edit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from agentfense import Sandbox, SyncMode

PROJECT = {
    "README.md": "# Demo service\nTODO: document the API\n",
    "src/app.py": "def handler():\n    return 'ok'  # TODO: real logic\n",
    "docs/design.md": "Internal design notes (view-only for the agent)\n",
    ".env": "API_TOKEN=not-for-agents\n",
    "secrets/prod.key": "-----BEGIN KEY-----\n",
    "output/.keep": "",
}

RULES = [
    # agent-safe: read everything, write /output and /tmp, hide secrets; plus:
    {"pattern": "/docs/**", "permission": "view", "priority": 50},  # see, don't read
    {"pattern": "/src/**", "permission": "write", "priority": 50},  # the agent's job
]

# (what the agent wants, the command it runs)
STEPS = [
    ("look around (secrets are not there at all)", "ls -a"),
    ("read the README (read)", "cat README.md"),
    ("try the secrets (none: no such file)", "cat .env; ls secrets"),
    ("list the docs (view: names visible)", "ls -l docs"),
    ("read the docs (view: content denied)", "cat docs/design.md"),
    ("fix the code (write)", "sed -i 's/TODO: real logic/implemented/' src/app.py && cat src/app.py"),
    ("edit the README (read only: denied)", "echo vandal >> README.md"),
    ("write a report (write under /output)", "grep -rn TODO README.md src > output/todo.txt; cat output/todo.txt"),
]


def make_project(root: Path) -> Path:
    for relative, content in PROJECT.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "demo")
        with Sandbox.from_local(project, preset="agent-safe", permissions=RULES,
                                sync_mode=SyncMode.MANUAL) as sandbox:
            for intent, command in STEPS:
                result = sandbox.run(command, timeout=30)
                print(f"## {intent}\n$ {command}\n{result.output.rstrip()}"
                      f"\n[exit {result.exit_code}]\n")
            print("## review the agent's changes before they reach the codebase")
            for change in sandbox.list_changes():
                print(f"{change.kind.value:8} {change.path}")
            print(sandbox.diff(["/src/app.py"]))
            outcome = sandbox.commit(["/src"])  # keep the fix, drop the rest
            sandbox.discard()
            print(f"committed {outcome.applied}")


if __name__ == "__main__":
    main()
