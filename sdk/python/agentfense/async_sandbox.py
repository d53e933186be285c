"""AsyncSandbox: Sandbox's surface on asyncio (grpc.aio).

    async with await AsyncSandbox.from_local("./repo") as sandbox:
        result = await sandbox.run("make test")

Same arguments, behaviour and cleanup as Sandbox: both run the same core (_flows.py),
here with AsyncSandboxClient. Disk work of from_local (walking the tree, reading files
for the tar stream) runs in worker threads so one large upload does not stall the other
sandboxes of the loop. Several AsyncSandbox objects may share one AsyncSandboxClient
(pass ``client=``); by default each opens its own channel.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, AsyncIterator, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _convert as convert
from . import _flows as flows
from ._connection import PemSource
from ._handle import SandboxHandle
from ._lifecycle import check_result
from .async_client import AsyncSandboxClient, shielded
from .async_session import AsyncSession, SessionOpener
from .exceptions import SandboxError
from .progress import ProgressOption
from .types import (AuditEvent, ChangeList, FileList, AuditSince, CommitResult, ExecChunk, ExecResult, FileChange,
                    FileInfo, ResourceLimits, Review, RuleLike, RuntimeType, SandboxInfo, SyncMode)


class AsyncSandbox(SandboxHandle[AsyncSandboxClient]):
    """A sandbox on an AgentFense server, driven from asyncio. Build one with
    ``await AsyncSandbox.from_local(...)``, ``from_codebase`` or ``connect``."""

    # ---- construction (see Sandbox for what each does) ----

    @classmethod
    async def from_local(cls, path: Union[str, "os.PathLike[str]"], *,
                         preset: Optional[str] = None,
                         permissions: Optional[Sequence[RuleLike]] = None,
                         runtime: Optional[RuntimeType] = None, image: str = "",
                         resources: Optional[ResourceLimits] = None,
                         endpoint: Optional[str] = None,
                         api_key: Optional[str] = None, tls: Optional[bool] = None,
                         ca_cert: Optional[PemSource] = None,
                         ignore_patterns: Optional[Sequence[str]] = None,
                         labels: Optional[Mapping[str, str]] = None, auto_start: bool = True,
                         expires_in: Optional[convert.Seconds] = None,
                         sync_mode: Optional[SyncMode] = None, import_mode: str = "auto",
                         progress: ProgressOption = None,
                         client: Optional[AsyncSandboxClient] = None) -> "AsyncSandbox":
        root = flows.local_root(path, import_mode)
        new = flows.NewSandbox.make(preset, permissions, auto_start, runtime, image, resources,
                                    labels, expires_in, sync_mode)
        async with _client_for(client, endpoint, api_key, tls, ca_cert) as (used,
                                                                            owns_client):
            op = flows.sandbox_from_local(root, new, used.endpoint, ignore_patterns, import_mode,
                                          progress)
            info = await used._run(op)
            return cls(used, info, owns_sandbox=True, owned_codebase=info.codebase_id,
                       owns_client=owns_client)

    @classmethod
    async def from_codebase(cls, codebase_id: str, *, preset: Optional[str] = None,
                            permissions: Optional[Sequence[RuleLike]] = None,
                            runtime: Optional[RuntimeType] = None, image: str = "",
                            resources: Optional[ResourceLimits] = None,
                            endpoint: Optional[str] = None,
                            api_key: Optional[str] = None, tls: Optional[bool] = None,
                            ca_cert: Optional[PemSource] = None,
                            labels: Optional[Mapping[str, str]] = None, auto_start: bool = True,
                            expires_in: Optional[convert.Seconds] = None,
                            sync_mode: Optional[SyncMode] = None,
                            client: Optional[AsyncSandboxClient] = None) -> "AsyncSandbox":
        new = flows.NewSandbox.make(preset, permissions, auto_start, runtime, image, resources,
                                    labels, expires_in, sync_mode)
        async with _client_for(client, endpoint, api_key, tls, ca_cert) as (used,
                                                                            owns_client):
            info = await used._run(flows.started_sandbox(codebase_id, new, owned_codebase=None))
            return cls(used, info, owns_sandbox=True, owns_client=owns_client)

    @classmethod
    async def connect(cls, sandbox_id: str, *, endpoint: Optional[str] = None,
                      api_key: Optional[str] = None, tls: Optional[bool] = None,
                      ca_cert: Optional[PemSource] = None,
                      destroy_on_exit: bool = False,
                      client: Optional[AsyncSandboxClient] = None) -> "AsyncSandbox":
        async with _client_for(client, endpoint, api_key, tls, ca_cert) as (used,
                                                                            owns_client):
            return cls(used, await used.get_sandbox(sandbox_id), owns_sandbox=destroy_on_exit,
                       owns_client=owns_client)

    # ---- state ----

    async def refresh(self) -> SandboxInfo:
        self.info = await self.client.get_sandbox(self.id)
        return self.info

    async def start(self) -> SandboxInfo:
        self.info = await self.client.start_sandbox(self.id)
        return self.info

    async def stop(self) -> SandboxInfo:
        self.info = await self.client.stop_sandbox(self.id)
        return self.info

    async def destroy(self) -> None:
        self._owns_sandbox = True
        await self.close()

    # ---- commands ----

    async def exec(self, command: str, *, stdin: Optional[str] = None,
                   env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
                   timeout: Optional[convert.Seconds] = None,
                   raise_on_error: bool = False) -> ExecResult:
        result = await self.client.exec(self.id, command, stdin=stdin, env=env, workdir=workdir,
                                        timeout=timeout)
        return check_result(result, raise_on_error)

    async def run(self, command: str, *, timeout: Optional[convert.Seconds] = None,
                  env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
                  raise_on_error: bool = False) -> ExecResult:
        return await self.exec(command, env=env, workdir=workdir, timeout=timeout,
                               raise_on_error=raise_on_error)

    def exec_stream(self, command: str, *, stdin: Optional[str] = None,
                    env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
                    timeout: Optional[convert.Seconds] = None) -> AsyncIterator[ExecChunk]:
        return self.client.exec_stream(self.id, command, stdin=stdin, env=env,
                                       workdir=workdir, timeout=timeout)

    def audit(self, *, since: AuditSince = None, kind: str = "", outcome: str = "",
              path: str = "", op: str = "", follow: bool = False) -> AsyncIterator[AuditEvent]:
        """``async for event in sandbox.audit(...)``: as Sandbox.audit."""
        return self.client.audit_events(self.id, since=since, kind=kind, outcome=outcome,
                                        path=path, op=op, follow=follow)

    async def audit_summary(self) -> Dict[str, Any]:
        """As Sandbox.audit_summary."""
        return await self.client.audit_summary(self.id)

    def session(self, shell: str = "", env: Optional[Mapping[str, str]] = None) -> SessionOpener:
        async def open_session() -> AsyncSession:
            info = await self.client.create_session(self.id, shell, env)
            return self._opened(AsyncSession(self.client, info))
        return SessionOpener(open_session)

    # ---- files as the agent sees them ----

    async def read_bytes(self, path: str) -> bytes:
        return await self.client.read_sandbox_file(self.id, path)

    async def read_file(self, path: str, encoding: str = "utf-8") -> str:
        return (await self.read_bytes(path)).decode(encoding)

    async def write_file(self, path: str, content: Union[str, bytes]) -> FileInfo:
        data = content.encode() if isinstance(content, str) else content
        return await self.client.write_sandbox_file(self.id, path, data)

    async def list_files(self, path: str = "/", recursive: bool = False) -> FileList:
        return await self.client.list_sandbox_files(self.id, path, recursive)

    # ---- change review ----

    async def list_changes(self) -> ChangeList:
        return await self.client.list_changes(self.id)

    async def diff(self, paths: Union[str, Iterable[str]] = ()) -> str:
        return await self.client.diff_changes(self.id, paths)

    async def review(self, paths: Union[str, Iterable[str]] = ()) -> Review:
        """The diff of the changes at ``paths`` (all when empty) and a token that commits
        exactly those: ``commit(paths, review_token=review.token)`` raises
        ReviewOutdatedError, committing nothing, if a process in the sandbox changed them
        since."""
        return await self.client.review_changes(self.id, paths)

    async def commit(self, paths: Union[str, Iterable[str]] = (), *,
                     review_token: Optional[str] = None) -> CommitResult:
        return await self.client.commit_changes(self.id, paths, review_token)

    async def discard(self) -> None:
        await self.client.discard_changes(self.id)

    # ---- cleanup ----

    async def close(self) -> None:
        """See Sandbox.close."""
        owned = self._claim_release()
        if owned is None:
            return
        try:
            error = await self.client._run(flows.release(*owned))
        finally:
            if self._owns_client:
                await self.client.close()
        if error is not None:
            raise error

    async def __aenter__(self) -> "AsyncSandbox":
        return self

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        try:
            await shielded(self.close())
        except SandboxError:
            if exc_type is None:
                raise


@contextlib.asynccontextmanager
async def _client_for(client: Optional[AsyncSandboxClient], endpoint: Optional[str],
                      api_key: Optional[str], tls: Optional[bool],
                      ca_cert: Optional[PemSource]) -> AsyncIterator[Tuple[AsyncSandboxClient,
                                                                           bool]]:
    """See sandbox._client_for."""
    if client is not None:
        yield client, False
        return
    created = AsyncSandboxClient(endpoint, api_key=api_key, tls=tls, ca_cert=ca_cert)
    try:
        yield created, True
    except BaseException:
        await shielded(created.close())
        raise
