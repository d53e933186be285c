"""One test body, both APIs: the blocking Sandbox/SandboxClient as they are, and
AsyncSandbox/AsyncSandboxClient seen through a blocking adapter that awaits every call
on the test's own event loop. Tests that take the ``api`` fixture (conftest.py) run
once per flavour, so the async API is held to everything the sync one is."""

from __future__ import annotations

import asyncio
import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from agentfense import (AsyncSandbox, AsyncSandboxClient, AsyncSession, Sandbox,
                        SandboxClient)

ASYNC_TYPES = (AsyncSandbox, AsyncSandboxClient, AsyncSession)


@dataclass(frozen=True)
class Api:
    name: str
    Sandbox: Any  # from_local, from_codebase, connect
    SandboxClient: Callable[..., Any]


SYNC = Api("sync", Sandbox, SandboxClient)


class Blocking:
    """An object of the async API behind blocking calls: coroutines (and other
    awaitables, such as what AsyncSandbox.session() returns) are awaited, async
    iterators become iterators, ``with`` runs ``async with``. Results that are async
    SDK objects are wrapped in turn; everything else comes back as it is."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def _wrap(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            value = self._loop.run_until_complete(_awaited(value))
        if isinstance(value, ASYNC_TYPES):
            return Blocking(value, self._loop)
        if hasattr(value, "__anext__"):
            return self._iterate(value)
        return value

    def _iterate(self, iterator: Any) -> Iterator[Any]:
        while True:
            try:
                yield self._loop.run_until_complete(iterator.__anext__())
            except StopAsyncIteration:
                return

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return self._wrap(value)

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._wrap(value(*args, **kwargs))
        return call

    def __enter__(self) -> "Blocking":
        self._loop.run_until_complete(self._target.__aenter__())
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        return self._loop.run_until_complete(self._target.__aexit__(*exc_info))

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def async_api(loop: asyncio.AbstractEventLoop) -> Api:
    def client(*args: Any, **kwargs: Any) -> Blocking:
        async def create() -> AsyncSandboxClient:  # grpc.aio wants its loop running
            return AsyncSandboxClient(*args, **kwargs)
        return Blocking(loop.run_until_complete(create()), loop)
    return Api("async", Blocking(AsyncSandbox, loop), client)
