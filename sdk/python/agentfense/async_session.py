"""AsyncSession: a stateful shell inside a running sandbox (AsyncSandbox.session())."""

from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable, Generator, Optional

from . import _convert as convert
from . import _flows as flows
from ._handle import SessionHandle
from ._lifecycle import check_result
from .async_client import AsyncSandboxClient, shielded
from .types import ExecChunk, ExecResult


class AsyncSession(SessionHandle[AsyncSandboxClient]):
    """A stateful shell inside a sandbox (see Session)."""

    async def exec(self, command: str, *, timeout: Optional[convert.Seconds] = None,
                   raise_on_error: bool = False) -> ExecResult:
        result = await self._client.session_exec(self.id, command, timeout=timeout)
        return check_result(result, raise_on_error)

    run = exec

    def exec_stream(self, command: str, *,
                    timeout: Optional[convert.Seconds] = None) -> AsyncIterator[ExecChunk]:
        return self._client.session_exec_stream(self.id, command, timeout=timeout)

    async def close(self) -> None:
        if not self._claim_close():
            return
        error = await self._client._run(flows.close_session(self.id))
        if error is not None:
            raise error

    async def __aenter__(self) -> "AsyncSession":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await shielded(self.close())


class SessionOpener:
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
