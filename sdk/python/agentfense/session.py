"""Session: a stateful shell inside a running sandbox (Sandbox.session())."""

from __future__ import annotations

from typing import Iterator, Optional

from . import _convert as convert
from . import _flows as flows
from ._handle import SessionHandle
from ._lifecycle import check_result, interrupts_deferred
from .client import SandboxClient
from .types import ExecChunk, ExecResult


class Session(SessionHandle[SandboxClient]):
    """A stateful shell inside a sandbox: working directory, variables and background
    jobs persist between exec calls. Closed (destroyed on the server) on context exit;
    closing a session that is already gone (or whose sandbox is) is not an error."""

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
        if not self._claim_close():
            return
        error = self._client._run(flows.close_session(self.id))
        if error is not None:
            raise error

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc_info: object) -> None:
        with interrupts_deferred():
            self.close()
