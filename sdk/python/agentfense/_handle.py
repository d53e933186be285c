"""What the high-level handles hold, independent of how they do I/O: for Sandbox and
AsyncSandbox the sandbox's last known state and what the handle owns (and so removes
when it is closed); for Session and AsyncSession the session."""

from __future__ import annotations

import weakref
from typing import Any, Generic, List, Optional, Tuple, TypeVar

from .types import SandboxInfo, SandboxStatus, SessionInfo

ClientT = TypeVar("ClientT")
SessionT = TypeVar("SessionT")


class SandboxHandle(Generic[ClientT]):
    def __init__(self, client: ClientT, info: SandboxInfo, *, owns_sandbox: bool,
                 owned_codebase: Optional[str] = None, owns_client: bool = True) -> None:
        self.client = client
        self.info = info
        self._owns_sandbox = owns_sandbox
        self._owned_codebase = owned_codebase
        self._owns_client = owns_client
        self._closed = False
        self._sessions: "weakref.WeakSet[Any]" = weakref.WeakSet()  # opened through this handle

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def codebase_id(self) -> str:
        return self.info.codebase_id

    @property
    def status(self) -> SandboxStatus:
        """The status as of the last call that returned it (see refresh())."""
        return self.info.status

    def _opened(self, session: SessionT) -> SessionT:
        """Note a session opened through this handle: closing the handle closes it."""
        self._sessions.add(session)
        return session

    def _claim_release(self) -> Optional[Tuple[Optional[str], Optional[str], List[str]]]:
        """The first call of close() gets what to release: the sandbox to destroy, the
        codebase to delete, and the sessions still open through this handle (to close
        explicitly when the sandbox stays). Later calls get None: closing twice is
        closing once. The sessions count as closed from now on, since the handle's
        connection may go with it."""
        if self._closed:
            return None
        self._closed = True
        sessions = [session for session in self._sessions if not session._closed]
        for session in sessions:
            session._closed = True
        return ((self.id if self._owns_sandbox else None), self._owned_codebase,
                [session.id for session in sessions])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, status={self.status.value})"


class SessionHandle(Generic[ClientT]):
    def __init__(self, client: ClientT, info: SessionInfo) -> None:
        self._client = client
        self.info = info
        self._closed = False

    @property
    def id(self) -> str:
        return self.info.id

    def _claim_close(self) -> bool:
        """True for the first close(): closing twice is closing once."""
        if self._closed:
            return False
        self._closed = True
        return True
