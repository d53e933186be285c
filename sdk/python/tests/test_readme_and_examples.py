"""Every Python block of the SDK README and every script in examples/ runs against the
real server (skipped without it), so the documentation cannot drift from the API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from conftest import REPO, RunningServer, write_project

README = Path(__file__).resolve().parents[1] / "README.md"
ROOT_README = REPO / "README.md"
EXAMPLES = sorted((REPO / "examples").glob("*.py"))


def python_blocks(markdown: Path) -> List[str]:
    return re.findall(r"```python\n(.*?)```", markdown.read_text(), flags=re.S)


def test_readme_has_examples() -> None:
    assert len(python_blocks(README)) >= 5 and EXAMPLES


# The SDK README's blocks and the repository README's.
BLOCKS = [(md, i) for md in (README, ROOT_README) for i in range(len(python_blocks(md)))]


@pytest.mark.parametrize("markdown, index", BLOCKS,
                         ids=[f"{md.parent.name}/{md.name}#{i}" for md, i in BLOCKS])
def test_readme_block_runs(agentfense_server: RunningServer, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch, markdown: Path, index: int) -> None:
    write_project(tmp_path / "my-project")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTFENSE_ENDPOINT", agentfense_server.endpoint)
    code = python_blocks(markdown)[index]
    exec(compile(code, f"{markdown.name} block {index}", "exec"), {"__name__": "__readme__"})


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(agentfense_server: RunningServer, script: Path) -> None:
    env = dict(os.environ, AGENTFENSE_ENDPOINT=agentfense_server.endpoint)
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    if script.name == "agent_loop.py":
        out = done.stdout
        assert "not-for-agents" not in out  # none: the secret never shows
        assert "Permission denied" in out  # view: docs content refused, README not writable
        assert "implemented" in out and "committed ['/src/app.py']" in out
