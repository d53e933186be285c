"""Many sandboxes at once from one asyncio event loop: each "agent" gets its own
sandbox over the same project and runs its own command.

    python examples/many_agents_async.py     # needs a server: agentfense server
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from agentfense import AsyncSandbox, AsyncSandboxClient


async def agent(client: AsyncSandboxClient, project: Path, index: int) -> str:
    async with await AsyncSandbox.from_local(project, preset="read-only",
                                             client=client) as sandbox:
        result = await sandbox.run(f"wc -l < data.txt; echo agent {index}", timeout=60)
        return result.stdout.split()[-1]


async def main(count: int = 20) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "data.txt").write_text("a\nb\nc\n")
        async with AsyncSandboxClient() as client:  # one channel shared by all sandboxes
            finished = await asyncio.gather(*(agent(client, project, i) for i in range(count)))
        print(f"{len(finished)} agents finished: {' '.join(finished)}")


if __name__ == "__main__":
    asyncio.run(main())
