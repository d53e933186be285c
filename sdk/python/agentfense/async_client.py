"""AsyncSandboxClient: SandboxClient's methods as coroutines (streaming methods are
async iterators) on grpc.aio.

One channel multiplexes any number of concurrent calls, so many sandboxes can share
one client within an event loop. Create it inside the running loop.

The requests and replies are SandboxClient's own (_calls.py); this file only performs
that I/O with asyncio (``_run``, ``_stream``), moving disk work (reading the files of
an upload) to worker threads so that one large upload does not stall the loop.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import (Any, AsyncIterable, AsyncIterator, Awaitable, Dict, Iterable, List, Mapping,
                    Optional, Sequence, TypeVar, Union)

import grpc
import grpc.aio

from . import _calls as calls
from . import _convert as convert
from ._effects import (DEFAULT, Blocking, BodyFailure, Cleanup, Deadline, Op, Rpc, ServerStream,
                       Stepper, Upload)
from ._lifecycle import interrupts_deferred
from ._proto import codebase_pb2_grpc, sandbox_pb2_grpc
from ._connection import PemSource, resolve_connection
from .client import CHANNEL_OPTIONS, DEFAULT_RPC_TIMEOUT
from .exceptions import NotFoundError, SandboxError, from_rpc_error
from .archive import ArchiveSource
from .progress import ProgressOption
from .types import (AuditEvent, ChangeList, FileList, AuditSince, CodebaseInfo, CommitResult, ExecChunk, ExecResult, FileInfo,
                    ResourceLimits, Review, RuleLike, RuntimeType, SandboxInfo, SessionInfo,
                    SyncMode, UploadResult)

T = TypeVar("T")

ChunkSource = calls.ChunkSource


class AsyncSandboxClient:
    """asyncio client for one AgentFense server. Use as an async context manager, or
    await close(), to release the channel."""

    def __init__(self, endpoint: Optional[str] = None, *,
                 api_key: Optional[str] = None, tls: Optional[bool] = None,
                 ca_cert: Optional[PemSource] = None, client_cert: Optional[PemSource] = None,
                 client_key: Optional[PemSource] = None,
                 rpc_timeout: Optional[float] = DEFAULT_RPC_TIMEOUT,
                 channel: Optional[grpc.aio.Channel] = None) -> None:
        connection = resolve_connection(endpoint, api_key=api_key, tls=tls, ca_cert=ca_cert,
                                        client_cert=client_cert, client_key=client_key)
        self.endpoint = connection.endpoint
        self.tls = connection.tls
        self.rpc_timeout = rpc_timeout
        self._metadata = connection.metadata
        if channel is None:
            channel = (grpc.aio.secure_channel(self.endpoint, connection.channel_credentials(),
                                               options=CHANNEL_OPTIONS)
                       if connection.tls else
                       grpc.aio.insecure_channel(self.endpoint, options=CHANNEL_OPTIONS))
        self._channel = channel
        self._stubs = {"sandbox": sandbox_pb2_grpc.SandboxServiceStub(self._channel),
                       "codebase": codebase_pb2_grpc.CodebaseServiceStub(self._channel)}

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncSandboxClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- the driver: performs the effects the core (_calls, _flows) yields ----

    async def _run(self, op: Op[T]) -> T:
        step = Stepper(op)
        while not step.finished:
            try:
                result = await self._perform(step.effect)
            except BaseException as error:  # noqa: BLE001 (the core decides, cancellation too)
                step.fail(error)
            else:
                step.reply(result)
        return step.result  # type: ignore[no-any-return]

    async def _perform(self, effect: Any) -> Any:
        if isinstance(effect, Rpc):
            return await self._unary(effect)
        if isinstance(effect, Blocking):
            return await asyncio.to_thread(effect.function, *effect.args)
        if isinstance(effect, Cleanup):
            return await shielded(self._cleanup(effect.op))
        raise TypeError(f"not an effect: {effect!r}")

    async def _cleanup(self, op: Op[Any]) -> Optional[SandboxError]:
        try:
            await self._run(op)
        except NotFoundError:
            return None
        except SandboxError as error:
            return error
        return None

    def _timeout(self, deadline: Deadline) -> Optional[float]:
        return self.rpc_timeout if deadline is DEFAULT else deadline  # type: ignore[return-value]

    async def _unary(self, rpc: Rpc) -> Any:
        method = getattr(self._stubs[rpc.service], rpc.method)
        request = rpc.request
        body = BodyFailure()
        if isinstance(request, Upload):
            request = _request_stream(request, body)
        try:
            reply = await method(request, timeout=self._timeout(rpc.deadline),
                                 metadata=self._metadata)
        except grpc.RpcError as error:
            body.raise_if_any()
            raise from_rpc_error(error, endpoint=self.endpoint, context=rpc.context) from error
        except asyncio.CancelledError:
            body.raise_if_any()  # grpc.aio cancels the call when its request stream raises
            raise
        body.raise_if_any()  # the server may have answered before the body failed
        return reply

    async def _stream(self, spec: ServerStream) -> AsyncIterator[Any]:
        call = getattr(self._stubs[spec.service], spec.method)(
            spec.request, timeout=self._timeout(spec.deadline), metadata=self._metadata)
        try:
            async for message in call:
                yield spec.parse(message)
        except grpc.RpcError as error:
            raise from_rpc_error(error, endpoint=self.endpoint, context=spec.context) from error
        finally:
            call.cancel()  # the caller stopped early: tell the server

    # ---- codebases (see SandboxClient for what each method does) ----

    async def create_codebase(self, name: str, owner_id: str = "") -> CodebaseInfo:
        return await self._run(calls.create_codebase(name, owner_id))

    async def get_codebase(self, codebase_id: str) -> CodebaseInfo:
        return await self._run(calls.get_codebase(codebase_id))

    async def list_codebases(self, owner_id: str = "") -> List[CodebaseInfo]:
        return await self._run(calls.list_codebases(owner_id))

    async def delete_codebase(self, codebase_id: str) -> None:
        await self._run(calls.delete_codebase(codebase_id))

    async def upload_file(self, codebase_id: str, path: str, content: bytes,
                          chunk_size: int = calls.UPLOAD_FILE_CHUNK) -> UploadResult:
        return await self._run(calls.upload_file(codebase_id, path, content, chunk_size))

    async def upload_archive(self, codebase_id: str, tar_chunks: ArchiveSource, path: str = "/",
                             progress: ProgressOption = None,
                             total_bytes: Optional[int] = None) -> UploadResult:
        """UploadArchive: a tar (optionally gzip) extracted under ``path``. ``tar_chunks``: a
        file path (read lazily), the archive's bytes, or an iterable of chunks (plain or async).
        ``progress`` as in upload_directory (bytes only: the archive's files are not
        counted); ``total_bytes``: the size of a stream of chunks, for a fraction (a
        path's or bytes' size is known)."""
        return await self._run(calls.upload_tar(codebase_id, tar_chunks, path, progress,
                                                total_bytes))

    async def upload_directory(self, codebase_id: str, path: Union[str, "os.PathLike[str]"],
                               ignore_patterns: Optional[Sequence[str]] = None,
                               progress: ProgressOption = None) -> UploadResult:
        return await self._run(calls.upload_directory(codebase_id, Path(path), ignore_patterns,
                                                      progress))

    async def download_file(self, codebase_id: str, path: str) -> bytes:
        return b"".join([piece async for piece in
                         self._stream(calls.download_file(codebase_id, path))])

    async def list_files(self, codebase_id: str, path: str = "/",
                         recursive: bool = False) -> FileList:
        return await self._run(calls.list_files(codebase_id, path, recursive))

    async def import_directory(self, path: str, name: str = "",
                               owner_id: str = "") -> CodebaseInfo:
        return await self._run(calls.import_directory(path, name, owner_id))

    # ---- sandboxes ----

    async def create_sandbox(self, codebase_id: str, permissions: Iterable[RuleLike] = (), *,
                             preset: Optional[str] = None,
                             expires_in: Optional[convert.Seconds] = None,
                             labels: Optional[Mapping[str, str]] = None,
                             runtime: Optional[RuntimeType] = None, image: str = "",
                             resources: Optional[ResourceLimits] = None,
                             sync_mode: Optional[SyncMode] = None) -> SandboxInfo:
        return await self._run(calls.create_sandbox(
            codebase_id, permissions, preset=preset, expires_in=expires_in, labels=labels,
            runtime=runtime, image=image, resources=resources, sync_mode=sync_mode))

    async def get_sandbox(self, sandbox_id: str) -> SandboxInfo:
        return await self._run(calls.get_sandbox(sandbox_id))

    async def list_sandboxes(self, codebase_id: str = "") -> List[SandboxInfo]:
        return await self._run(calls.list_sandboxes(codebase_id))

    async def start_sandbox(self, sandbox_id: str) -> SandboxInfo:
        return await self._run(calls.start_sandbox(sandbox_id))

    async def stop_sandbox(self, sandbox_id: str) -> SandboxInfo:
        return await self._run(calls.stop_sandbox(sandbox_id))

    async def destroy_sandbox(self, sandbox_id: str) -> None:
        await self._run(calls.destroy_sandbox(sandbox_id))

    async def exec(self, sandbox_id: str, command: str, *, stdin: Optional[str] = None,
                   env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
                   timeout: Optional[convert.Seconds] = None) -> ExecResult:
        return await self._run(calls.exec(sandbox_id, command, stdin=stdin, env=env,
                                          workdir=workdir, timeout=timeout))

    def exec_stream(self, sandbox_id: str, command: str, *, stdin: Optional[str] = None,
                    env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
                    timeout: Optional[convert.Seconds] = None) -> AsyncIterator[ExecChunk]:
        return self._stream(calls.exec_stream(sandbox_id, command, stdin=stdin, env=env,
                                              workdir=workdir, timeout=timeout))

    # ---- sessions ----

    async def create_session(self, sandbox_id: str, shell: str = "",
                             env: Optional[Mapping[str, str]] = None) -> SessionInfo:
        return await self._run(calls.create_session(sandbox_id, shell, env))

    async def get_session(self, session_id: str) -> SessionInfo:
        return await self._run(calls.get_session(session_id))

    async def list_sessions(self, sandbox_id: str) -> List[SessionInfo]:
        return await self._run(calls.list_sessions(sandbox_id))

    async def destroy_session(self, session_id: str) -> None:
        await self._run(calls.destroy_session(session_id))

    async def session_exec(self, session_id: str, command: str, *,
                           timeout: Optional[convert.Seconds] = None) -> ExecResult:
        return await self._run(calls.session_exec(session_id, command, timeout))

    def session_exec_stream(self, session_id: str, command: str, *,
                            timeout: Optional[convert.Seconds] = None) -> AsyncIterator[ExecChunk]:
        return self._stream(calls.session_exec_stream(session_id, command, timeout))

    # ---- the write layer ----

    async def list_changes(self, sandbox_id: str) -> ChangeList:
        return await self._run(calls.list_changes(sandbox_id))

    async def diff_changes(self, sandbox_id: str, paths: Union[str, Iterable[str]] = ()) -> str:
        return await self._run(calls.diff_changes(sandbox_id, paths))

    async def review_changes(self, sandbox_id: str, paths: Union[str, Iterable[str]] = ()) -> Review:
        return await self._run(calls.review_changes(sandbox_id, paths))

    async def commit_changes(self, sandbox_id: str, paths: Union[str, Iterable[str]] = (),
                             review_token: Optional[str] = None) -> CommitResult:
        return await self._run(calls.commit_changes(sandbox_id, paths, review_token))

    async def discard_changes(self, sandbox_id: str) -> None:
        await self._run(calls.discard_changes(sandbox_id))

    # ---- files through the sandbox's rules ----

    async def read_sandbox_file(self, sandbox_id: str, path: str) -> bytes:
        return await self._run(calls.read_sandbox_file(sandbox_id, path))

    async def write_sandbox_file(self, sandbox_id: str, path: str, content: bytes) -> FileInfo:
        return await self._run(calls.write_sandbox_file(sandbox_id, path, content))

    async def list_sandbox_files(self, sandbox_id: str, path: str = "/",
                                 recursive: bool = False) -> FileList:
        return await self._run(calls.list_sandbox_files(sandbox_id, path, recursive))

    # ---- the audit trail ----

    def audit_events(self, sandbox_id: str, *, since: AuditSince = None, kind: str = "",
                     outcome: str = "", path: str = "", op: str = "",
                     follow: bool = False) -> AsyncIterator[AuditEvent]:
        """GetAuditEvents; see AsyncSandbox.audit."""
        return self._stream(calls.audit_events(sandbox_id, since=since, kind=kind,
                                               outcome=outcome, path=path, op=op, follow=follow))

    async def audit_summary(self, sandbox_id: str) -> Dict[str, Any]:
        return await self._run(calls.audit_summary(sandbox_id))


async def _request_stream(upload: Upload, failure: BodyFailure) -> AsyncIterator[Any]:
    """What it raises is kept in ``failure`` for the caller: grpc.aio only logs it."""
    try:
        yield upload.head
        async for piece in _pieces(upload.body):
            if upload.on_piece is not None:
                upload.on_piece(piece)  # here, on the loop's thread: callbacks need no locking
            yield upload.wrap(piece)
    except Exception as error:
        failure.error = error
        raise


async def _pieces(body: Union[Iterable[Any], AsyncIterable[Any]]) -> AsyncIterator[Any]:
    """An async iterable as it is; a plain one pulled piece by piece from a worker
    thread, since producing a piece may read files."""
    if isinstance(body, AsyncIterable):
        async for piece in body:
            yield piece
        return
    iterator = iter(body)
    done = object()
    while True:
        piece = await asyncio.to_thread(next, iterator, done)
        if piece is done:
            return
        yield piece


async def shielded(cleanup: Awaitable[T]) -> T:
    """Finish a cleanup even if the task awaiting it is cancelled (Ctrl-C under
    asyncio.run cancels the main task) or SIGINT arrives meanwhile."""
    task = asyncio.ensure_future(cleanup)
    with interrupts_deferred():
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await task  # let it complete, then propagate the cancellation
            raise
