"""Session: a stateful shell inside a running sandbox (Sandbox.session())."""

from __future__ import annotations

from typing import Iterator, Optional

from . import _convert as convert
from ._lifecycle import check_result, interrupts_deferred
from .client import SandboxClient
from .exceptions import NotFoundError
from .types import ExecChunk, ExecResult, SessionInfo


class Session:
    """A stateful shell inside a sandbox: working directory, variables and background
    jobs persist between exec calls. Closed (destroyed on the server) on context exit."""

    def __init__(self, client: SandboxClient, info: SessionInfo) -> None:
        self._client = client
        self.info = info
        self._closed = False

    @property
    def id(self) -> str:
        return self.info.id

    def exec(self, command: str, *, timeout: Optional[convert.Seconds] = None,
             raise_on_error: bool = False) -> ExecResult:
        """Run ``command`` in the session's shell and wait for it."""
        result = self._client.session_exec(self.id, command, timeout=timeout)
        return check_result(result, raise_on_error)

    run = exec

    def exec_stream(self, command: str, *,
                    timeout: Optional[convert.Seconds] = None) -> Iterator[ExecChunk]:
        """Output chunks as they come, then one chunk of kind "exit"."""
        return self._client.session_exec_stream(self.id, command, timeout=timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._client.destroy_session(self.id)
        except NotFoundError:
            pass  # already gone (sandbox destroyed or stopped)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc_info: object) -> None:
        with interrupts_deferred():
            self.close()
