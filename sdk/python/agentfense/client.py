"""SandboxClient: the blocking gRPC client, one method per RPC of sandbox.v1.

Methods take and return the SDK's types (agentfense.types), never protobuf messages,
and raise the SDK's exceptions (agentfense.exceptions), never grpc.RpcError. List
methods follow next_page_token until the listing is complete.

What each method sends and how it reads the reply is written once, in _calls.py, for
this client and AsyncSandboxClient alike; this file only performs that I/O with
blocking gRPC (``_run``, ``_stream``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, TypeVar, Union

import grpc

from . import _calls as calls
from . import _convert as convert
from ._effects import (DEFAULT, Blocking, BodyFailure, Cleanup, Deadline, Op, Rpc, ServerStream,
                       Stepper, Upload)
from ._connection import DEFAULT_ENDPOINT as DEFAULT_ENDPOINT  # re-exported
from ._connection import ENDPOINT_ENV as ENDPOINT_ENV
from ._connection import PemSource, resolve_connection
from ._connection import resolve_endpoint as resolve_endpoint
from ._lifecycle import interrupts_deferred
from ._proto import codebase_pb2_grpc, sandbox_pb2_grpc
from .exceptions import NotFoundError, SandboxError, from_rpc_error
from .archive import ArchiveSource
from .progress import ProgressOption
from .types import (AuditEvent, ChangeList, FileList, AuditSince, CodebaseInfo, CommitResult, ExecChunk, ExecResult, FileInfo,
                    ResourceLimits, Review, RuleLike, RuntimeType, SandboxInfo, SessionInfo,
                    SyncMode, UploadResult)

T = TypeVar("T")

# Unary calls other than exec get this deadline, so a wedged server surfaces as an
# error instead of a hang. Exec calls use the command's own timeout plus a grace.
DEFAULT_RPC_TIMEOUT = 120.0
MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # files read through a sandbox can be large
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]


class SandboxClient:
    """Blocking client for one AgentFense server. Use as a context manager, or call
    close(), to release the channel.

    ``api_key`` (else $AGENTFENSE_API_KEY) is sent with every call; ``tls=True`` uses
    TLS, trusting ``ca_cert`` (a PEM path or bytes; else $AGENTFENSE_CA_CERT, else the
    system's CAs), with ``client_cert``/``client_key`` for a client certificate. Giving
    ``ca_cert`` implies TLS. A key is never sent in clear text to another machine."""

    def __init__(self, endpoint: Optional[str] = None, *,
                 api_key: Optional[str] = None, tls: Optional[bool] = None,
                 ca_cert: Optional[PemSource] = None, client_cert: Optional[PemSource] = None,
                 client_key: Optional[PemSource] = None,
                 rpc_timeout: Optional[float] = DEFAULT_RPC_TIMEOUT,
                 channel: Optional[grpc.Channel] = None) -> None:
        connection = resolve_connection(endpoint, api_key=api_key, tls=tls, ca_cert=ca_cert,
                                        client_cert=client_cert, client_key=client_key)
        self.endpoint = connection.endpoint
        self.tls = connection.tls
        self.rpc_timeout = rpc_timeout
        self._metadata = connection.metadata
        if channel is None:
            channel = (grpc.secure_channel(self.endpoint, connection.channel_credentials(),
                                           options=CHANNEL_OPTIONS)
                       if connection.tls else
                       grpc.insecure_channel(self.endpoint, options=CHANNEL_OPTIONS))
        self._channel = channel
        self._stubs = {"sandbox": sandbox_pb2_grpc.SandboxServiceStub(self._channel),
                       "codebase": codebase_pb2_grpc.CodebaseServiceStub(self._channel)}

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "SandboxClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- the driver: performs the effects the core (_calls, _flows) yields ----

    def _run(self, op: Op[T]) -> T:
        step = Stepper(op)
        while not step.finished:
            try:
                result = self._perform(step.effect)
            except BaseException as error:  # noqa: BLE001 (the core decides, Ctrl-C too)
                step.fail(error)
            else:
                step.reply(result)
        return step.result  # type: ignore[no-any-return]

    def _perform(self, effect: Any) -> Any:
        if isinstance(effect, Rpc):
            return self._unary(effect)
        if isinstance(effect, Blocking):
            return effect.function(*effect.args)
        if isinstance(effect, Cleanup):
            with interrupts_deferred():
                try:
                    self._run(effect.op)
                except NotFoundError:
                    return None
                except SandboxError as error:
                    return error
            return None
        raise TypeError(f"not an effect: {effect!r}")

    def _timeout(self, deadline: Deadline) -> Optional[float]:
        return self.rpc_timeout if deadline is DEFAULT else deadline  # type: ignore[return-value]

    def _unary(self, rpc: Rpc) -> Any:
        method = getattr(self._stubs[rpc.service], rpc.method)
        request = rpc.request
        body = BodyFailure()
        if isinstance(request, Upload):
            request = _request_stream(request, body)
        try:
            reply = method(request, timeout=self._timeout(rpc.deadline), metadata=self._metadata)
        except grpc.RpcError as error:
            body.raise_if_any()
            raise from_rpc_error(error, endpoint=self.endpoint, context=rpc.context) from error
        body.raise_if_any()  # the server may have answered before the body failed
        return reply

    def _stream(self, spec: ServerStream) -> Iterator[Any]:
        call = getattr(self._stubs[spec.service], spec.method)(
            spec.request, timeout=self._timeout(spec.deadline), metadata=self._metadata)
        try:
            for message in call:
                yield spec.parse(message)
        except grpc.RpcError as error:
            raise from_rpc_error(error, endpoint=self.endpoint, context=spec.context) from error
        finally:
            call.cancel()  # the caller stopped early: tell the server

    # ---- codebases ----

    def create_codebase(self, name: str, owner_id: str = "") -> CodebaseInfo:
        return self._run(calls.create_codebase(name, owner_id))

    def get_codebase(self, codebase_id: str) -> CodebaseInfo:
        return self._run(calls.get_codebase(codebase_id))

    def list_codebases(self, owner_id: str = "") -> List[CodebaseInfo]:
        return self._run(calls.list_codebases(owner_id))

    def delete_codebase(self, codebase_id: str) -> None:
        self._run(calls.delete_codebase(codebase_id))

    def upload_file(self, codebase_id: str, path: str, content: bytes,
                    chunk_size: int = calls.UPLOAD_FILE_CHUNK) -> UploadResult:
        """UploadFiles: one file, written atomically by the server when complete."""
        return self._run(calls.upload_file(codebase_id, path, content, chunk_size))

    def upload_archive(self, codebase_id: str, tar_chunks: ArchiveSource, path: str = "/",
                       progress: ProgressOption = None,
                       total_bytes: Optional[int] = None) -> UploadResult:
        """UploadArchive: a tar (optionally gzip) extracted under ``path``. ``tar_chunks``: a
        file path (read lazily), the archive's bytes, or an iterable of chunks.
        ``progress`` as in upload_directory (bytes only: the archive's files are not
        counted); ``total_bytes``: the size of a stream of chunks, for a fraction (a
        path's or bytes' size is known)."""
        return self._run(calls.upload_tar(codebase_id, tar_chunks, path, progress, total_bytes))

    def upload_directory(self, codebase_id: str, path: Union[str, "os.PathLike[str]"],
                         ignore_patterns: Optional[Sequence[str]] = None,
                         progress: ProgressOption = None) -> UploadResult:
        """Upload a local directory into the codebase as one tar stream, honouring
        .gitignore and .sandboxignore (plus ``ignore_patterns``, gitignore syntax) and
        keeping exec bits, symlinks and empty directories. ``progress``: a callback
        given an UploadProgress (bytes and files done and total) after every chunk,
        True for a bar on stderr, False for nothing; None: a bar for uploads over
        50 MB when stderr is a terminal. The callback runs on gRPC's sending thread
        (AsyncSandboxClient: on the event loop)."""
        return self._run(calls.upload_directory(codebase_id, Path(path), ignore_patterns,
                                                progress))

    def download_file(self, codebase_id: str, path: str) -> bytes:
        return b"".join(self._stream(calls.download_file(codebase_id, path)))

    def list_files(self, codebase_id: str, path: str = "/",
                   recursive: bool = False) -> FileList:
        return self._run(calls.list_files(codebase_id, path, recursive))

    def import_directory(self, path: str, name: str = "", owner_id: str = "") -> CodebaseInfo:
        """ImportDirectory: serve a server-local directory in place (it must lie under
        the server's storage.import_roots)."""
        return self._run(calls.import_directory(path, name, owner_id))

    # ---- sandboxes ----

    def create_sandbox(self, codebase_id: str, permissions: Iterable[RuleLike] = (), *,
                       preset: Optional[str] = None,
                       expires_in: Optional[convert.Seconds] = None,
                       labels: Optional[Mapping[str, str]] = None,
                       runtime: Optional[RuntimeType] = None, image: str = "",
                       resources: Optional[ResourceLimits] = None,
                       sync_mode: Optional[SyncMode] = None) -> SandboxInfo:
        """CreateSandbox with exactly the rules given: ``preset``'s first, then
        ``permissions`` (none at all: the sandbox shows nothing)."""
        return self._run(calls.create_sandbox(
            codebase_id, permissions, preset=preset, expires_in=expires_in, labels=labels,
            runtime=runtime, image=image, resources=resources, sync_mode=sync_mode))

    def get_sandbox(self, sandbox_id: str) -> SandboxInfo:
        return self._run(calls.get_sandbox(sandbox_id))

    def list_sandboxes(self, codebase_id: str = "") -> List[SandboxInfo]:
        return self._run(calls.list_sandboxes(codebase_id))

    def start_sandbox(self, sandbox_id: str) -> SandboxInfo:
        return self._run(calls.start_sandbox(sandbox_id))

    def stop_sandbox(self, sandbox_id: str) -> SandboxInfo:
        return self._run(calls.stop_sandbox(sandbox_id))

    def destroy_sandbox(self, sandbox_id: str) -> None:
        """DestroySandbox; SandboxNotFoundError if there is no such sandbox."""
        self._run(calls.destroy_sandbox(sandbox_id))

    def exec(self, sandbox_id: str, command: str, *, stdin: Optional[str] = None,
             env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
             timeout: Optional[convert.Seconds] = None) -> ExecResult:
        """Exec: run ``command`` with /bin/sh -c in the sandbox and wait for it."""
        return self._run(calls.exec(sandbox_id, command, stdin=stdin, env=env, workdir=workdir,
                                    timeout=timeout))

    def exec_stream(self, sandbox_id: str, command: str, *, stdin: Optional[str] = None,
                    env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
                    timeout: Optional[convert.Seconds] = None) -> Iterator[ExecChunk]:
        """ExecStream: output chunks as they come, then one chunk of kind "exit"."""
        return self._stream(calls.exec_stream(sandbox_id, command, stdin=stdin, env=env,
                                              workdir=workdir, timeout=timeout))

    # ---- sessions ----

    def create_session(self, sandbox_id: str, shell: str = "",
                       env: Optional[Mapping[str, str]] = None) -> SessionInfo:
        return self._run(calls.create_session(sandbox_id, shell, env))

    def get_session(self, session_id: str) -> SessionInfo:
        return self._run(calls.get_session(session_id))

    def list_sessions(self, sandbox_id: str) -> List[SessionInfo]:
        return self._run(calls.list_sessions(sandbox_id))

    def destroy_session(self, session_id: str) -> None:
        self._run(calls.destroy_session(session_id))

    def session_exec(self, session_id: str, command: str, *,
                     timeout: Optional[convert.Seconds] = None) -> ExecResult:
        return self._run(calls.session_exec(session_id, command, timeout))

    def session_exec_stream(self, session_id: str, command: str, *,
                            timeout: Optional[convert.Seconds] = None) -> Iterator[ExecChunk]:
        return self._stream(calls.session_exec_stream(session_id, command, timeout))

    # ---- the write layer ----

    def list_changes(self, sandbox_id: str) -> ChangeList:
        return self._run(calls.list_changes(sandbox_id))

    def diff_changes(self, sandbox_id: str, paths: Union[str, Iterable[str]] = ()) -> str:
        return self._run(calls.diff_changes(sandbox_id, paths))

    def review_changes(self, sandbox_id: str, paths: Union[str, Iterable[str]] = ()) -> Review:
        return self._run(calls.review_changes(sandbox_id, paths))

    def commit_changes(self, sandbox_id: str, paths: Union[str, Iterable[str]] = (),
                       review_token: Optional[str] = None) -> CommitResult:
        return self._run(calls.commit_changes(sandbox_id, paths, review_token))

    def discard_changes(self, sandbox_id: str) -> None:
        self._run(calls.discard_changes(sandbox_id))

    # ---- files through the sandbox's rules ----

    def read_sandbox_file(self, sandbox_id: str, path: str) -> bytes:
        return self._run(calls.read_sandbox_file(sandbox_id, path))

    def write_sandbox_file(self, sandbox_id: str, path: str, content: bytes) -> FileInfo:
        return self._run(calls.write_sandbox_file(sandbox_id, path, content))

    def list_sandbox_files(self, sandbox_id: str, path: str = "/",
                           recursive: bool = False) -> FileList:
        return self._run(calls.list_sandbox_files(sandbox_id, path, recursive))

    # ---- the audit trail ----

    def audit_events(self, sandbox_id: str, *, since: AuditSince = None, kind: str = "",
                     outcome: str = "", path: str = "", op: str = "",
                     follow: bool = False) -> Iterator[AuditEvent]:
        """GetAuditEvents; see Sandbox.audit."""
        return self._stream(calls.audit_events(sandbox_id, since=since, kind=kind,
                                               outcome=outcome, path=path, op=op, follow=follow))

    def audit_summary(self, sandbox_id: str) -> Dict[str, Any]:
        return self._run(calls.audit_summary(sandbox_id))


def _request_stream(upload: Upload, failure: BodyFailure) -> Iterator[Any]:
    """The request iterator of a client-streaming call (gRPC consumes it in its own
    thread). What it raises is kept in ``failure`` for the caller."""
    try:
        if not isinstance(upload.body, Iterable):
            raise TypeError("SandboxClient uploads take a plain iterable of bytes; async "
                            "iterables are for AsyncSandboxClient")
        yield upload.head
        for piece in upload.body:
            if upload.on_piece is not None:
                upload.on_piece(piece)
            yield upload.wrap(piece)
    except Exception as error:
        failure.error = error
        raise
