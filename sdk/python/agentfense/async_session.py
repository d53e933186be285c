"""AsyncSession: a stateful shell inside a running sandbox (AsyncSandbox.session())."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Awaitable, Callable, Generator, Optional

from . import _convert as convert
from ._lifecycle import check_result, interrupts_deferred
from .async_client import AsyncSandboxClient
from .exceptions import NotFoundError
from .types import ExecChunk, ExecResult, SessionInfo


class AsyncSession:
    """A stateful shell inside a sandbox (see Session)."""

    def __init__(self, client: AsyncSandboxClient, info: SessionInfo) -> None:
        self._client = client
        self.info = info
        self._closed = False

    @property
    def id(self) -> str:
        return self.info.id

    async def exec(self, command: str, *, timeout: Optional[convert.Seconds] = None,
                   raise_on_error: bool = False) -> ExecResult:
        result = await self._client.session_exec(self.id, command, timeout=timeout)
        return check_result(result, raise_on_error)

    run = exec

    def exec_stream(self, command: str, *,
                    timeout: Optional[convert.Seconds] = None) -> AsyncIterator[ExecChunk]:
        return self._client.session_exec_stream(self.id, command, timeout=timeout)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._client.destroy_session(self.id)
        except NotFoundError:
            pass

    async def __aenter__(self) -> "AsyncSession":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await _shielded(self.close())


class _SessionOpener:
    """What AsyncSandbox.session() returns: ``await`` it for a session, or use it
    directly in ``async with`` (closing the session on exit)."""

    def __init__(self, open_session: Callable[[], Awaitable[AsyncSession]]) -> None:
        self._open = open_session
        self._session: Optional[AsyncSession] = None

    def __await__(self) -> Generator[Any, None, AsyncSession]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncSession:
        self._session = await self._open()
        return self._session

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.__aexit__(*exc_info)


async def _shielded(cleanup: Awaitable[None]) -> None:
    """Finish a cleanup even if the task awaiting it is cancelled (Ctrl-C under
    asyncio.run cancels the main task) or SIGINT arrives meanwhile."""
    task = asyncio.ensure_future(cleanup)
    with interrupts_deferred():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await task  # let it complete, then propagate the cancellation
            raise
