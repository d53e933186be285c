"""Fixtures for the MCP suite: the real `agentfense mcp` driven by the official `mcp`
Python client (from PyPI, installed into the test venv by scripts/test.sh), over a small
codebase with planted secrets and a view-only file."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from mcp_harness import HIDDEN, VIEW_ONLY, VISIBLE, agentfense_bin


@pytest.fixture(scope="session")
def agentfense() -> str:
    path = agentfense_bin()
    assert os.path.isfile(path) and os.access(path, os.X_OK), (
        f"agentfense binary not found at {path}: build it (scripts/build.sh) or set "
        "AGENTFENSE_BIN")
    return path


@pytest.fixture
def secret() -> str:
    return f"SECRET{uuid.uuid4().hex}"


@pytest.fixture
def repo(tmp_path: Path, secret: str) -> Path:
    """Visible sources, an output/ dir the agent may write, hidden files at several depths
    holding `secret`, and a view-only file holding it too."""
    root = tmp_path / "repo"
    for rel, text in VISIBLE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for rel in HIDDEN + [VIEW_ONLY]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"{secret} in {rel}\n")
    # Everything readable by the sandbox's own uid (as a checkout usually is).
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root
