"""Every code block in docs/ runs against the real server (skipped without it), so the
documentation cannot drift from what the system does.

- ```python blocks run in this process, in a directory holding ./my-project (the
  sample project of conftest.py), with $AGENTFENSE_ENDPOINT set.
- ```sh blocks run with `bash -euo pipefail` in the same kind of directory, with the
  agentfense binary on $PATH.
- In both, the documented default addresses localhost:9000 (gRPC) and localhost:8080
  (REST) are rewritten to the test server's.
- Any other block, or one that must not run, is preceded by
  `<!-- not-run: REASON -->`; there are few, and each says why.
"""

from __future__ import annotations

import linecache
import os
import re
import subprocess
from pathlib import Path
from typing import List, NamedTuple

import pytest

from conftest import REPO, RunningServer, agentfense_bin, write_project

DOCS = REPO / "docs"
FENCE = re.compile(r"(?:<!--\s*not-run:(?P<reason>[^>]*)-->\s*\n)?"
                   r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\s*$", re.S | re.M)
RUNNABLE = ("python", "sh")
MAX_NOT_RUN = 8  # "a few": grows only with a good reason


class Block(NamedTuple):
    page: str
    index: int
    lang: str
    body: str
    not_run_reason: str

    @property
    def name(self) -> str:
        return f"{self.page}#{self.index}"


def doc_blocks() -> List[Block]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for index, match in enumerate(FENCE.finditer(page.read_text())):
            reason = (match.group("reason") or "").strip()
            found.append(Block(page.name, index, match.group("lang"), match.group("body"),
                               reason if match.group("reason") is not None else ""))
    return found


BLOCKS = doc_blocks()
PYTHON = [b for b in BLOCKS if b.lang == "python" and not b.not_run_reason]
SHELL = [b for b in BLOCKS if b.lang == "sh" and not b.not_run_reason]


def for_server(code: str, server: RunningServer) -> str:
    http = server.http_url.removeprefix("http://")
    return code.replace("localhost:9000", server.endpoint).replace("localhost:8080", http)


def test_docs_exist_and_every_block_runs_or_says_why() -> None:
    pages = {path.name for path in DOCS.glob("*.md")}
    assert {"quickstart.md", "permissions.md", "presets.md", "security.md", "api.md",
            "python.md", "troubleshooting.md"} <= pages
    unexplained = [b.name for b in BLOCKS if b.lang not in RUNNABLE and not b.not_run_reason]
    assert unexplained == [], "blocks that are neither run nor marked not-run: REASON"
    marked = [b for b in BLOCKS if b.not_run_reason]
    assert len(marked) <= MAX_NOT_RUN, [b.name for b in marked]
    assert len(PYTHON) >= 10 and len(SHELL) >= 3


def test_the_fence_parser_sees_markers() -> None:
    sample = ("text\n<!-- not-run: needs a GPU -->\n```yaml\na: 1\n```\n\n```sh\necho hi\n```\n")
    matches = [(m.group("lang"), m.group("reason")) for m in FENCE.finditer(sample)]
    assert matches == [("yaml", " needs a GPU "), ("sh", None)]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            agentfense_server: RunningServer) -> Path:
    write_project(tmp_path / "my-project")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTFENSE_ENDPOINT", agentfense_server.endpoint)
    return tmp_path


@pytest.mark.parametrize("block", PYTHON, ids=[b.name for b in PYTHON])
def test_python_block_runs(block: Block, workdir: Path,
                           agentfense_server: RunningServer) -> None:
    code = for_server(block.body, agentfense_server)
    filename = f"docs/{block.name}"
    # Registered so that a failing assert shows its line of the page in the traceback.
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    exec(compile(code, filename, "exec"), {"__name__": "__docs__"})


@pytest.mark.parametrize("block", SHELL, ids=[b.name for b in SHELL])
def test_shell_block_runs(block: Block, workdir: Path,
                          agentfense_server: RunningServer) -> None:
    env = dict(os.environ,
               PATH=f"{Path(agentfense_bin()).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c",
                           for_server(block.body, agentfense_server)],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
