"""AsyncSandbox: Sandbox's surface on asyncio (grpc.aio).

    async with await AsyncSandbox.from_local("./repo", preset="agent-safe") as sandbox:
        result = await sandbox.run("make test")

Disk work of from_local (walking the tree, reading files for the tar stream) runs in
worker threads so one large upload does not stall the other sandboxes of the loop.
Several AsyncSandbox objects may share one AsyncSandboxClient (pass ``client=``);
by default each opens its own channel.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import (Any, AsyncIterator, Awaitable, Iterable, Iterator, List, Mapping, Optional,
                    Sequence, Union)

from . import _convert as convert
from ._lifecycle import (IMPORT_MODES, check_result, is_loopback_endpoint,
                         should_fall_back_to_upload)
from .archive import (ProgressCallback, archive_size, choose_progress, collect_entries,
                      tar_chunks, with_progress)
from .async_client import AsyncSandboxClient
from .exceptions import InvalidConfigurationError, NotFoundError, SandboxError
from .sandbox import _rules
from .async_session import AsyncSession, _SessionOpener, _shielded
from .types import (CommitResult, ExecChunk, ExecResult, FileChange, FileInfo, ResourceLimits,
                    RuleLike, RuntimeType, SandboxInfo, SandboxStatus, SyncMode)


class AsyncSandbox:
    """A sandbox on an AgentFense server, driven from asyncio. Build one with
    ``await AsyncSandbox.from_local(...)``, ``from_codebase`` or ``connect``."""

    def __init__(self, client: AsyncSandboxClient, info: SandboxInfo, *, owns_sandbox: bool,
                 owned_codebase: Optional[str] = None, owns_client: bool = True) -> None:
        self.client = client
        self.info = info
        self._owns_sandbox = owns_sandbox
        self._owned_codebase = owned_codebase
        self._owns_client = owns_client
        self._closed = False

    # ---- construction ----

    @classmethod
    async def from_local(cls, path: Union[str, "os.PathLike[str]"], *, preset: Optional[str] = None,
                         permissions: Optional[Sequence[RuleLike]] = None,
                         runtime: Optional[RuntimeType] = None, image: str = "",
                         resources: Optional[ResourceLimits] = None,
                         endpoint: Optional[str] = None, ignore_patterns: Sequence[str] = (),
                         labels: Optional[Mapping[str, str]] = None, auto_start: bool = True,
                         expires_in: Optional[convert.Seconds] = None,
                         sync_mode: Optional[SyncMode] = None, import_mode: str = "auto",
                         progress: Union[bool, ProgressCallback, None] = None,
                         client: Optional[AsyncSandboxClient] = None) -> "AsyncSandbox":
        """See Sandbox.from_local: same arguments and behaviour."""
        if import_mode not in IMPORT_MODES:
            raise InvalidConfigurationError(f"import_mode must be one of {IMPORT_MODES}")
        root = Path(path).resolve()
        if not root.is_dir():
            raise InvalidConfigurationError(f"from_local: {path} is not a directory")
        rules = _rules(preset, permissions)
        owns_client = client is None
        client = client or AsyncSandboxClient(endpoint)
        codebase_id: Optional[str] = None
        try:
            codebase_id = await _create_codebase(client, root, ignore_patterns, import_mode,
                                                 progress)
            return await cls._create(client, codebase_id, rules, owned_codebase=codebase_id,
                                     owns_client=owns_client, runtime=runtime, image=image,
                                     resources=resources, labels=labels,
                                     auto_start=auto_start, expires_in=expires_in,
                                     sync_mode=sync_mode)
        except BaseException:
            await _shielded(_abandon(client, codebase_id, owns_client))
            raise

    @classmethod
    async def from_codebase(cls, codebase_id: str, *, preset: Optional[str] = None,
                            permissions: Optional[Sequence[RuleLike]] = None,
                            runtime: Optional[RuntimeType] = None, image: str = "",
                            resources: Optional[ResourceLimits] = None,
                            endpoint: Optional[str] = None,
                            labels: Optional[Mapping[str, str]] = None, auto_start: bool = True,
                            expires_in: Optional[convert.Seconds] = None,
                            sync_mode: Optional[SyncMode] = None,
                            client: Optional[AsyncSandboxClient] = None) -> "AsyncSandbox":
        """See Sandbox.from_codebase."""
        rules = _rules(preset, permissions)
        owns_client = client is None
        client = client or AsyncSandboxClient(endpoint)
        try:
            return await cls._create(client, codebase_id, rules, owned_codebase=None,
                                     owns_client=owns_client, runtime=runtime, image=image,
                                     resources=resources, labels=labels,
                                     auto_start=auto_start, expires_in=expires_in,
                                     sync_mode=sync_mode)
        except BaseException:
            await _shielded(_abandon(client, None, owns_client))
            raise

    @classmethod
    async def connect(cls, sandbox_id: str, *, endpoint: Optional[str] = None,
                      destroy_on_exit: bool = False,
                      client: Optional[AsyncSandboxClient] = None) -> "AsyncSandbox":
        """See Sandbox.connect."""
        owns_client = client is None
        client = client or AsyncSandboxClient(endpoint)
        try:
            info = await client.get_sandbox(sandbox_id)
        except BaseException:
            await _shielded(_abandon(client, None, owns_client))
            raise
        return cls(client, info, owns_sandbox=destroy_on_exit, owns_client=owns_client)

    @classmethod
    async def _create(cls, client: AsyncSandboxClient, codebase_id: str, rules: List[RuleLike],
                      *, owned_codebase: Optional[str], owns_client: bool, auto_start: bool,
                      **options: Any) -> "AsyncSandbox":
        info = await client.create_sandbox(codebase_id, rules, **options)
        sandbox = cls(client, info, owns_sandbox=True, owned_codebase=owned_codebase,
                      owns_client=owns_client)
        if auto_start:
            try:
                await sandbox.start()
            except BaseException:
                sandbox._owns_client = False  # the caller's cleanup closes it
                sandbox._owned_codebase = None
                await _shielded(sandbox.close())
                raise
        return sandbox

    # ---- state ----

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def codebase_id(self) -> str:
        return self.info.codebase_id

    @property
    def status(self) -> SandboxStatus:
        return self.info.status

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

    def session(self, shell: str = "", env: Optional[Mapping[str, str]] = None) -> _SessionOpener:
        async def open_session() -> AsyncSession:
            return AsyncSession(self.client, await self.client.create_session(self.id, shell, env))
        return _SessionOpener(open_session)

    # ---- files as the agent sees them ----

    async def read_bytes(self, path: str) -> bytes:
        return await self.client.read_sandbox_file(self.id, path)

    async def read_file(self, path: str, encoding: str = "utf-8") -> str:
        return (await self.read_bytes(path)).decode(encoding)

    async def write_file(self, path: str, content: Union[str, bytes]) -> FileInfo:
        data = content.encode() if isinstance(content, str) else content
        return await self.client.write_sandbox_file(self.id, path, data)

    async def list_files(self, path: str = "/", recursive: bool = False) -> List[FileInfo]:
        return await self.client.list_sandbox_files(self.id, path, recursive)

    # ---- change review ----

    async def list_changes(self) -> List[FileChange]:
        return await self.client.list_changes(self.id)

    async def diff(self, paths: Iterable[str] = ()) -> str:
        return await self.client.diff_changes(self.id, paths)

    async def commit(self, paths: Iterable[str] = ()) -> CommitResult:
        return await self.client.commit_changes(self.id, paths)

    async def discard(self) -> None:
        await self.client.discard_changes(self.id)

    # ---- cleanup ----

    async def close(self) -> None:
        """See Sandbox.close."""
        if self._closed:
            return
        self._closed = True
        errors: List[BaseException] = []
        if self._owns_sandbox:
            await _quietly(self.client.destroy_sandbox(self.id), errors)
        if self._owned_codebase:
            await _quietly(self.client.delete_codebase(self._owned_codebase), errors)
        if self._owns_client:
            await self.client.close()
        if errors:
            raise errors[0]

    async def __aenter__(self) -> "AsyncSandbox":
        return self

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        try:
            await _shielded(self.close())
        except SandboxError:
            if exc_type is None:
                raise

    def __repr__(self) -> str:
        return f"AsyncSandbox(id={self.id!r}, status={self.status.value})"


async def _quietly(action: Awaitable[None], errors: Optional[List[BaseException]] = None) -> None:
    try:
        await action
    except NotFoundError:
        pass
    except Exception as error:  # noqa: BLE001 (keep cleaning up; report afterwards)
        if errors is not None:
            errors.append(error)


async def _abandon(client: AsyncSandboxClient, codebase_id: Optional[str],
                   owns_client: bool) -> None:
    if codebase_id is not None:
        await _quietly(client.delete_codebase(codebase_id))
    if owns_client:
        await client.close()


async def _threaded_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Pull a blocking iterator (file reads) from a worker thread, chunk by chunk."""
    done = object()
    while True:
        chunk = await asyncio.to_thread(next, chunks, done)
        if chunk is done:
            return
        yield chunk  # type: ignore[misc]


async def _create_codebase(client: AsyncSandboxClient, root: Path,
                           ignore_patterns: Sequence[str], import_mode: str,
                           progress: Union[bool, ProgressCallback, None]) -> str:
    if import_mode == "always" or (import_mode == "auto" and is_loopback_endpoint(client.endpoint)):
        try:
            return (await client.import_directory(str(root), name=root.name)).id
        except SandboxError as error:
            if import_mode == "always" or not should_fall_back_to_upload(error):
                raise
    codebase = await client.create_codebase(root.name)
    try:
        entries = await asyncio.to_thread(collect_entries, root, ignore_patterns)
        total = archive_size(entries)
        chunks = with_progress(tar_chunks(entries), total, choose_progress(progress, total))
        await client.upload_archive(codebase.id, _threaded_chunks(chunks))
    except BaseException:
        await _shielded(_quietly(client.delete_codebase(codebase.id)))
        raise
    return codebase.id
