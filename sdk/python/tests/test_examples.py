"""Every script in examples/ runs against the real server (skipped without it). The
documents' code blocks are test_docs.py's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, RunningServer

EXAMPLES = sorted((REPO / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert EXAMPLES


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
