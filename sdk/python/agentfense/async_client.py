"""AsyncSandboxClient: the asyncio (grpc.aio) twin of SandboxClient, with the same
methods as coroutines (streaming methods are async iterators).

One channel multiplexes any number of concurrent calls, so many sandboxes can share
one client within an event loop. Create it inside the running loop.
"""

from __future__ import annotations

from typing import (Any, AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, List,
                    Mapping, Optional, TypeVar, Union)

import grpc
import grpc.aio

from . import _convert as convert
from ._proto import codebase_pb2, codebase_pb2_grpc, sandbox_pb2, sandbox_pb2_grpc
from .exceptions import from_rpc_error
from .presets import resolve_rules
from .client import CHANNEL_OPTIONS, DEFAULT, DEFAULT_RPC_TIMEOUT, _Default, resolve_endpoint
from .types import (CodebaseInfo, CommitResult, ExecChunk, ExecResult, FileChange, FileInfo,
                    ResourceLimits, RuleLike, RuntimeType, SandboxInfo, SessionInfo, SyncMode,
                    UploadResult)

T = TypeVar("T")

ChunkSource = Union[Iterable[bytes], AsyncIterable[bytes]]


class AsyncSandboxClient:
    """asyncio client for one AgentFense server. Use as an async context manager, or
    await close(), to release the channel."""

    def __init__(self, endpoint: Optional[str] = None, *,
                 rpc_timeout: Optional[float] = DEFAULT_RPC_TIMEOUT,
                 channel: Optional[grpc.aio.Channel] = None) -> None:
        self.endpoint = resolve_endpoint(endpoint)
        self.rpc_timeout = rpc_timeout
        self._channel = channel or grpc.aio.insecure_channel(self.endpoint, options=CHANNEL_OPTIONS)
        self._sandboxes = sandbox_pb2_grpc.SandboxServiceStub(self._channel)
        self._codebases = codebase_pb2_grpc.CodebaseServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncSandboxClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- plumbing ----

    async def _call(self, method: Callable[..., Awaitable[T]], request: object, *,
              deadline: Union[float, None, _Default] = DEFAULT, command: Optional[str] = None,
              command_timeout: Optional[convert.Seconds] = None) -> T:
        """Run one unary (or client-streaming) call. ``deadline`` None = no deadline."""
        timeout = self.rpc_timeout if isinstance(deadline, _Default) else deadline
        try:
            return await method(request, timeout=timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error, endpoint=self.endpoint, command=command,
                                 timeout=convert.to_timedelta(command_timeout)) from error

    async def _stream(self, call: Any, command: Optional[str] = None,
                      command_timeout: Optional[convert.Seconds] = None) -> AsyncIterator[Any]:
        try:
            async for message in call:
                yield message
        except grpc.RpcError as error:
            raise from_rpc_error(error, endpoint=self.endpoint, command=command,
                                 timeout=convert.to_timedelta(command_timeout)) from error
        finally:
            cancel = getattr(call, "cancel", None)
            if cancel is not None:
                cancel()  # the caller stopped early: tell the server

    # ---- codebases ----

    async def create_codebase(self, name: str, owner_id: str = "") -> CodebaseInfo:
        request = codebase_pb2.CreateCodebaseRequest(name=name, owner_id=owner_id)
        return convert.codebase_from_pb(await self._call(self._codebases.CreateCodebase, request))

    async def get_codebase(self, codebase_id: str) -> CodebaseInfo:
        request = codebase_pb2.GetCodebaseRequest(codebase_id=codebase_id)
        return convert.codebase_from_pb(await self._call(self._codebases.GetCodebase, request))

    async def list_codebases(self, owner_id: str = "") -> List[CodebaseInfo]:
        found: List[CodebaseInfo] = []
        token = ""
        while True:
            request = codebase_pb2.ListCodebasesRequest(owner_id=owner_id, page_token=token)
            response = await self._call(self._codebases.ListCodebases, request)
            found += [convert.codebase_from_pb(item) for item in response.codebases]
            token = response.next_page_token
            if not token:
                return found

    async def delete_codebase(self, codebase_id: str) -> None:
        request = codebase_pb2.DeleteCodebaseRequest(codebase_id=codebase_id)
        await self._call(self._codebases.DeleteCodebase, request)

    async def upload_file(self, codebase_id: str, path: str, content: bytes,
                    chunk_size: int = 1 << 20) -> UploadResult:
        """UploadFiles: one file, written atomically by the server when complete."""
        def chunks() -> Iterable[codebase_pb2.UploadChunk]:
            yield codebase_pb2.UploadChunk(metadata=codebase_pb2.UploadChunk.Metadata(
                codebase_id=codebase_id, file_path=path, total_size=len(content)))
            for start in range(0, len(content), chunk_size):
                yield codebase_pb2.UploadChunk(data=content[start:start + chunk_size])
        result = await self._call(self._codebases.UploadFiles, chunks(), deadline=None)
        return UploadResult(result.codebase_id, 1, result.size)

    async def download_file(self, codebase_id: str, path: str) -> bytes:
        request = codebase_pb2.DownloadFileRequest(codebase_id=codebase_id, file_path=path)
        call = self._codebases.DownloadFile(request, timeout=self.rpc_timeout)
        return b"".join([chunk.data async for chunk in self._stream(call)])

    async def list_files(self, codebase_id: str, path: str = "/", recursive: bool = False) -> List[FileInfo]:
        request = codebase_pb2.ListFilesRequest(codebase_id=codebase_id, path=path,
                                                recursive=recursive)
        response = await self._call(self._codebases.ListFiles, request)
        return [convert.file_from_pb(item) for item in response.files]

    async def upload_archive(self, codebase_id: str, tar_chunks: ChunkSource,
                             path: str = "/") -> UploadResult:
        """UploadArchive: a tar (optionally gzip) stream extracted under ``path``;
        ``tar_chunks`` may be a plain or an async iterable."""
        async def chunks() -> AsyncIterator[codebase_pb2.ArchiveChunk]:
            yield codebase_pb2.ArchiveChunk(metadata=codebase_pb2.ArchiveChunk.Metadata(
                codebase_id=codebase_id, path=path))
            if isinstance(tar_chunks, AsyncIterable):
                async for data in tar_chunks:
                    yield codebase_pb2.ArchiveChunk(data=data)
            else:
                for data in tar_chunks:
                    yield codebase_pb2.ArchiveChunk(data=data)
        result = await self._call(self._codebases.UploadArchive, chunks(), deadline=None)
        return UploadResult(result.codebase_id, result.files, result.bytes)

    async def import_directory(self, path: str, name: str = "", owner_id: str = "") -> CodebaseInfo:
        """ImportDirectory: serve a server-local directory in place (it must lie under
        the server's storage.import_roots)."""
        request = codebase_pb2.ImportDirectoryRequest(name=name, owner_id=owner_id, path=path)
        return convert.codebase_from_pb(await self._call(self._codebases.ImportDirectory, request))

    # ---- sandboxes ----

    async def create_sandbox(self, codebase_id: str, permissions: Iterable[RuleLike] = (), *,
                       preset: Optional[str] = None,
                       expires_in: Optional[convert.Seconds] = None,
                       labels: Optional[Mapping[str, str]] = None,
                       runtime: Optional[RuntimeType] = None, image: str = "",
                       resources: Optional[ResourceLimits] = None,
                       sync_mode: Optional[SyncMode] = None) -> SandboxInfo:
        """CreateSandbox. ``preset`` rules come first, then ``permissions``."""
        request = sandbox_pb2.CreateSandboxRequest(
            codebase_id=codebase_id, permissions=convert.rules_pb(resolve_rules(preset, permissions)),
            expires_in=convert.duration_pb(expires_in), labels=dict(labels or {}),
            runtime=convert.runtime_pb(runtime), image=image or "",
            resources=convert.resources_pb(resources), sync_mode=convert.sync_mode_pb(sync_mode))
        return convert.sandbox_from_pb(await self._call(self._sandboxes.CreateSandbox, request))

    async def get_sandbox(self, sandbox_id: str) -> SandboxInfo:
        request = sandbox_pb2.GetSandboxRequest(sandbox_id=sandbox_id)
        return convert.sandbox_from_pb(await self._call(self._sandboxes.GetSandbox, request))

    async def list_sandboxes(self, codebase_id: str = "") -> List[SandboxInfo]:
        found: List[SandboxInfo] = []
        token = ""
        while True:
            request = sandbox_pb2.ListSandboxesRequest(codebase_id=codebase_id, page_token=token)
            response = await self._call(self._sandboxes.ListSandboxes, request)
            found += [convert.sandbox_from_pb(item) for item in response.sandboxes]
            token = response.next_page_token
            if not token:
                return found

    async def start_sandbox(self, sandbox_id: str) -> SandboxInfo:
        request = sandbox_pb2.StartSandboxRequest(sandbox_id=sandbox_id)
        return convert.sandbox_from_pb(await self._call(self._sandboxes.StartSandbox, request))

    async def stop_sandbox(self, sandbox_id: str) -> SandboxInfo:
        request = sandbox_pb2.StopSandboxRequest(sandbox_id=sandbox_id)
        return convert.sandbox_from_pb(await self._call(self._sandboxes.StopSandbox, request))

    async def destroy_sandbox(self, sandbox_id: str) -> None:
        request = sandbox_pb2.DestroySandboxRequest(sandbox_id=sandbox_id)
        await self._call(self._sandboxes.DestroySandbox, request)

    async def exec(self, sandbox_id: str, command: str, *, stdin: Optional[str] = None,
             env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
             timeout: Optional[convert.Seconds] = None) -> ExecResult:
        """Exec: run ``command`` with /bin/sh -c in the sandbox and wait for it."""
        request = convert.exec_request(sandbox_id, command, stdin=stdin, env=env,
                                       workdir=workdir, timeout=timeout)
        response = await self._call(self._sandboxes.Exec, request, deadline=convert.rpc_deadline(timeout),
                              command=command, command_timeout=timeout)
        return convert.exec_result_from_pb(response, command)

    async def exec_stream(self, sandbox_id: str, command: str, *, stdin: Optional[str] = None,
                    env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
                    timeout: Optional[convert.Seconds] = None) -> AsyncIterator[ExecChunk]:
        """ExecStream: output chunks as they come, then one chunk of kind "exit"."""
        request = convert.exec_request(sandbox_id, command, stdin=stdin, env=env,
                                       workdir=workdir, timeout=timeout)
        call = self._sandboxes.ExecStream(request, timeout=convert.rpc_deadline(timeout))
        async for message in self._stream(call, command, timeout):
            yield convert.exec_chunk_from_pb(message)

    # ---- sessions ----

    async def create_session(self, sandbox_id: str, shell: str = "",
                       env: Optional[Mapping[str, str]] = None) -> SessionInfo:
        request = sandbox_pb2.CreateSessionRequest(sandbox_id=sandbox_id, shell=shell,
                                                   env=dict(env or {}))
        return convert.session_from_pb(await self._call(self._sandboxes.CreateSession, request))

    async def get_session(self, session_id: str) -> SessionInfo:
        request = sandbox_pb2.GetSessionRequest(session_id=session_id)
        return convert.session_from_pb(await self._call(self._sandboxes.GetSession, request))

    async def list_sessions(self, sandbox_id: str) -> List[SessionInfo]:
        request = sandbox_pb2.ListSessionsRequest(sandbox_id=sandbox_id)
        response = await self._call(self._sandboxes.ListSessions, request)
        return [convert.session_from_pb(item) for item in response.sessions]

    async def destroy_session(self, session_id: str) -> None:
        request = sandbox_pb2.DestroySessionRequest(session_id=session_id)
        await self._call(self._sandboxes.DestroySession, request)

    async def session_exec(self, session_id: str, command: str, *,
                     timeout: Optional[convert.Seconds] = None) -> ExecResult:
        request = sandbox_pb2.SessionExecRequest(session_id=session_id, command=command,
                                                 timeout=convert.duration_pb(timeout))
        response = await self._call(self._sandboxes.SessionExec, request,
                              deadline=convert.rpc_deadline(timeout), command=command,
                              command_timeout=timeout)
        return convert.exec_result_from_pb(response, command)

    async def session_exec_stream(self, session_id: str, command: str, *,
                            timeout: Optional[convert.Seconds] = None) -> AsyncIterator[ExecChunk]:
        request = sandbox_pb2.SessionExecRequest(session_id=session_id, command=command,
                                                 timeout=convert.duration_pb(timeout))
        call = self._sandboxes.SessionExecStream(request, timeout=convert.rpc_deadline(timeout))
        async for message in self._stream(call, command, timeout):
            yield convert.exec_chunk_from_pb(message)

    # ---- the write layer ----

    async def list_changes(self, sandbox_id: str) -> List[FileChange]:
        request = sandbox_pb2.ListChangesRequest(sandbox_id=sandbox_id)
        response = await self._call(self._sandboxes.ListChanges, request)
        return [convert.change_from_pb(item) for item in response.changes]

    async def diff_changes(self, sandbox_id: str, paths: Iterable[str] = ()) -> str:
        request = sandbox_pb2.DiffChangesRequest(sandbox_id=sandbox_id, paths=list(paths))
        return (await self._call(self._sandboxes.DiffChanges, request)).diff

    async def commit_changes(self, sandbox_id: str, paths: Iterable[str] = ()) -> CommitResult:
        request = sandbox_pb2.CommitChangesRequest(sandbox_id=sandbox_id, paths=list(paths))
        return convert.commit_from_pb(await self._call(self._sandboxes.CommitChanges, request))

    async def discard_changes(self, sandbox_id: str) -> None:
        request = sandbox_pb2.DiscardChangesRequest(sandbox_id=sandbox_id)
        await self._call(self._sandboxes.DiscardChanges, request)

    # ---- files through the sandbox's rules ----

    async def read_sandbox_file(self, sandbox_id: str, path: str) -> bytes:
        request = sandbox_pb2.ReadSandboxFileRequest(sandbox_id=sandbox_id, path=path)
        return (await self._call(self._sandboxes.ReadSandboxFile, request)).content

    async def write_sandbox_file(self, sandbox_id: str, path: str, content: bytes) -> FileInfo:
        request = sandbox_pb2.WriteSandboxFileRequest(sandbox_id=sandbox_id, path=path,
                                                      content=content)
        return convert.file_from_pb(await self._call(self._sandboxes.WriteSandboxFile, request))

    async def list_sandbox_files(self, sandbox_id: str, path: str = "/",
                           recursive: bool = False) -> List[FileInfo]:
        request = sandbox_pb2.ListSandboxFilesRequest(sandbox_id=sandbox_id, path=path,
                                                      recursive=recursive)
        response = await self._call(self._sandboxes.ListSandboxFiles, request)
        return [convert.file_from_pb(item) for item in response.files]
