"""Every code example of the documentation runs against the real server (skipped
without it), as a user would paste it, so the documents cannot drift from what the
system does. The blocks are read from the markdown at test time: editing an example
so that it breaks fails this suite. The examples assert what the text promises.

Pages: docs/*.md, the SDK's README (sdk/python/README.md) and the repository's
README.md.

- ```python blocks run in this process, in a directory holding ./my-project (the
  sample project of conftest.py), with $AGENTFENSE_ENDPOINT set and the agentfense
  binary on $PATH.
- ```sh blocks of docs/ run with `bash -euo pipefail` in the same kind of directory,
  with the agentfense binary on $PATH and $DOCKER_HOST naming the test server's dockerd
  (whose test image also answers to the documents' python:3.11-slim). (The READMEs' sh blocks build and install;
  only their Python examples run here.)
- In both, the documented default addresses localhost:9000 (gRPC) and localhost:8080
  (REST) are rewritten to the test server's.
- Any other block of docs/, or one that must not run, is preceded by
  `<!-- not-run: REASON -->`; there are few, and each says why.
- An example whose documented behaviour waits for a server-side change (issue 11) is
  an expected failure naming the item, strict: the day the server delivers, the test
  fails until the mark is removed.
"""

from __future__ import annotations

import linecache
import os
import re
import subprocess
from pathlib import Path
from typing import Dict, List, NamedTuple, Tuple

import pytest

from conftest import REPO, RunningServer, agentfense_bin, write_project

DOCS = REPO / "docs"
SDK_README = REPO / "sdk" / "python" / "README.md"
ROOT_README = REPO / "README.md"
FENCE = re.compile(r"(?:<!--\s*not-run:(?P<reason>[^>]*)-->\s*\n)?"
                   r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```\s*$", re.S | re.M)
RUNNABLE = ("python", "sh")
# "a few": grows only with a good reason. 9: the MCP page's client configuration and the
# audit page's event line and config fragment are data, not programs. 10: the MCP page's
# second client configuration (attaching to a server's sandbox), data too.
MAX_NOT_RUN = 10

# Documented behaviour that needs a server-side item of issue 11: a block of the
# language on the right containing its text is expected to fail, for the reason on
# the left.
WAITS_FOR_SERVER: Dict[str, Tuple[str, str]] = {
    # Empty since the server delivered issue 11 items 1, 4, 5, 6 and 7.
}


class Block(NamedTuple):
    page: str  # relative to the repository
    index: int
    lang: str
    body: str
    not_run_reason: str

    @property
    def name(self) -> str:
        return f"{self.page}#{self.index}"

    @property
    def waits_for(self) -> str:
        return next((item for item, (lang, marker) in WAITS_FOR_SERVER.items()
                     if lang == self.lang and marker in self.body), "")


def blocks_of(page: Path) -> List[Block]:
    found = []
    for index, match in enumerate(FENCE.finditer(page.read_text())):
        reason = match.group("reason")
        found.append(Block(str(page.relative_to(REPO)), index, match.group("lang"),
                           match.group("body"), (reason or "").strip()))
    return found


DOC_BLOCKS = [block for page in sorted(DOCS.glob("*.md")) for block in blocks_of(page)]
README_BLOCKS = [block for page in (ROOT_README, SDK_README) for block in blocks_of(page)]
PYTHON = [b for b in DOC_BLOCKS + README_BLOCKS if b.lang == "python" and not b.not_run_reason]
SHELL = [b for b in DOC_BLOCKS if b.lang == "sh" and not b.not_run_reason]


def cases(blocks: List[Block]) -> List[object]:
    return [pytest.param(block, id=block.name,
                         marks=[pytest.mark.xfail(strict=True, reason=block.waits_for)]
                         if block.waits_for else [])
            for block in blocks]


def for_server(code: str, server: RunningServer) -> str:
    scheme, address = server.http_url.split("://", 1)
    return (code.replace("localhost:9000", server.endpoint)
            .replace("http://localhost:8080", f"{scheme}://localhost:8080")
            .replace("localhost:8080", address))


def test_docs_exist_and_every_block_runs_or_says_why() -> None:
    pages = {path.name for path in DOCS.glob("*.md")}
    assert {"quickstart.md", "permissions.md", "presets.md", "security.md", "api.md",
            "python.md", "troubleshooting.md"} <= pages
    unexplained = [b.name for b in DOC_BLOCKS if b.lang not in RUNNABLE and not b.not_run_reason]
    assert unexplained == [], "blocks that are neither run nor marked not-run: REASON"
    marked = [b for b in DOC_BLOCKS if b.not_run_reason]
    assert len(marked) <= MAX_NOT_RUN, [b.name for b in marked]
    assert len(PYTHON) >= 20 and len(SHELL) >= 3
    assert len([b for b in README_BLOCKS if b.lang == "python"]) >= 6


def test_every_expected_failure_names_a_documented_example() -> None:
    """A stale entry (its example edited away) would hide nothing and prove nothing."""
    waiting = {block.waits_for for block in PYTHON + SHELL}
    assert set(WAITS_FOR_SERVER) <= waiting


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
    # As for the sh blocks: a Python example may start `agentfense` (docs/agents.md).
    monkeypatch.setenv("PATH", f"{Path(agentfense_bin()).parent}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


@pytest.mark.parametrize("block", cases(PYTHON))
def test_python_block_runs(block: Block, workdir: Path,
                           agentfense_server: RunningServer) -> None:
    code = for_server(block.body, agentfense_server)
    # Registered so that a failing assert shows its line of the page in the traceback.
    linecache.cache[block.name] = (len(code), None, code.splitlines(True), block.name)
    exec(compile(code, block.name, "exec"), {"__name__": "__docs__"})


@pytest.mark.parametrize("block", cases(SHELL))
def test_shell_block_runs(block: Block, workdir: Path,
                          agentfense_server: RunningServer) -> None:
    env = dict(os.environ, DOCKER_HOST=agentfense_server.docker_host,
               PATH=f"{Path(agentfense_bin()).parent}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c",
                           for_server(block.body, agentfense_server)],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
