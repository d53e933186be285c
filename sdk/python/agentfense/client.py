"""SandboxClient: the blocking gRPC client, one method per RPC of sandbox.v1.

Methods take and return the SDK's types (agentfense.types), never protobuf messages,
and raise the SDK's exceptions (agentfense.exceptions), never grpc.RpcError. List
methods follow next_page_token until the listing is complete.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, Iterator, List, Mapping, Optional, TypeVar, Union

import grpc

from . import _convert as convert
from ._proto import codebase_pb2, codebase_pb2_grpc, sandbox_pb2, sandbox_pb2_grpc
from .exceptions import from_rpc_error
from .presets import resolve_rules
from .types import (CodebaseInfo, CommitResult, ExecChunk, ExecResult, FileChange, FileInfo,
                    ResourceLimits, RuleLike, RuntimeType, SandboxInfo, SessionInfo, SyncMode,
                    UploadResult)

T = TypeVar("T")


class _Default:
    """Marker type: "use the client's rpc_timeout" (None already means no deadline)."""


DEFAULT = _Default()

DEFAULT_ENDPOINT = "localhost:9000"
ENDPOINT_ENV = "AGENTFENSE_ENDPOINT"


def resolve_endpoint(endpoint: Optional[str]) -> str:
    """``endpoint`` if given, else $AGENTFENSE_ENDPOINT, else localhost:9000."""
    return endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
# Unary calls other than exec get this deadline, so a wedged server surfaces as an
# error instead of a hang. Exec calls use the command's own timeout plus a grace.
DEFAULT_RPC_TIMEOUT = 120.0
MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # files read through a sandbox can be large
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]


class SandboxClient:
    """Blocking client for one AgentFense server. Use as a context manager, or call
    close(), to release the channel."""

    def __init__(self, endpoint: Optional[str] = None, *,
                 rpc_timeout: Optional[float] = DEFAULT_RPC_TIMEOUT,
                 channel: Optional[grpc.Channel] = None) -> None:
        self.endpoint = resolve_endpoint(endpoint)
        self.rpc_timeout = rpc_timeout
        self._channel = channel or grpc.insecure_channel(self.endpoint, options=CHANNEL_OPTIONS)
        self._sandboxes = sandbox_pb2_grpc.SandboxServiceStub(self._channel)
        self._codebases = codebase_pb2_grpc.CodebaseServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "SandboxClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- plumbing ----

    def _call(self, method: Callable[..., T], request: object, *,
              deadline: Union[float, None, _Default] = DEFAULT, command: Optional[str] = None,
              command_timeout: Optional[convert.Seconds] = None) -> T:
        """Run one unary (or client-streaming) call. ``deadline`` None = no deadline."""
        timeout = self.rpc_timeout if isinstance(deadline, _Default) else deadline
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error, endpoint=self.endpoint, command=command,
                                 timeout=convert.to_timedelta(command_timeout)) from error

    def _stream(self, call: Iterable[T], command: Optional[str] = None,
                command_timeout: Optional[convert.Seconds] = None) -> Iterator[T]:
        try:
            yield from call
        except grpc.RpcError as error:
            raise from_rpc_error(error, endpoint=self.endpoint, command=command,
                                 timeout=convert.to_timedelta(command_timeout)) from error
        finally:
            cancel = getattr(call, "cancel", None)
            if cancel is not None:
                cancel()  # the caller stopped early: tell the server

    # ---- codebases ----

    def create_codebase(self, name: str, owner_id: str = "") -> CodebaseInfo:
        request = codebase_pb2.CreateCodebaseRequest(name=name, owner_id=owner_id)
        return convert.codebase_from_pb(self._call(self._codebases.CreateCodebase, request))

    def get_codebase(self, codebase_id: str) -> CodebaseInfo:
        request = codebase_pb2.GetCodebaseRequest(codebase_id=codebase_id)
        return convert.codebase_from_pb(self._call(self._codebases.GetCodebase, request))

    def list_codebases(self, owner_id: str = "") -> List[CodebaseInfo]:
        found: List[CodebaseInfo] = []
        token = ""
        while True:
            request = codebase_pb2.ListCodebasesRequest(owner_id=owner_id, page_token=token)
            response = self._call(self._codebases.ListCodebases, request)
            found += [convert.codebase_from_pb(item) for item in response.codebases]
            token = response.next_page_token
            if not token:
                return found

    def delete_codebase(self, codebase_id: str) -> None:
        request = codebase_pb2.DeleteCodebaseRequest(codebase_id=codebase_id)
        self._call(self._codebases.DeleteCodebase, request)

    def upload_file(self, codebase_id: str, path: str, content: bytes,
                    chunk_size: int = 1 << 20) -> UploadResult:
        """UploadFiles: one file, written atomically by the server when complete."""
        def chunks() -> Iterator[codebase_pb2.UploadChunk]:
            yield codebase_pb2.UploadChunk(metadata=codebase_pb2.UploadChunk.Metadata(
                codebase_id=codebase_id, file_path=path, total_size=len(content)))
            for start in range(0, len(content), chunk_size):
                yield codebase_pb2.UploadChunk(data=content[start:start + chunk_size])
        result = self._call(self._codebases.UploadFiles, chunks(), deadline=None)
        return UploadResult(result.codebase_id, 1, result.size)

    def download_file(self, codebase_id: str, path: str) -> bytes:
        request = codebase_pb2.DownloadFileRequest(codebase_id=codebase_id, file_path=path)
        call = self._codebases.DownloadFile(request, timeout=self.rpc_timeout)
        return b"".join(chunk.data for chunk in self._stream(call))

    def list_files(self, codebase_id: str, path: str = "/", recursive: bool = False) -> List[FileInfo]:
        request = codebase_pb2.ListFilesRequest(codebase_id=codebase_id, path=path,
                                                recursive=recursive)
        response = self._call(self._codebases.ListFiles, request)
        return [convert.file_from_pb(item) for item in response.files]

    def upload_archive(self, codebase_id: str, tar_chunks: Iterable[bytes],
                       path: str = "/") -> UploadResult:
        """UploadArchive: a tar (optionally gzip) stream extracted under ``path``."""
        def chunks() -> Iterator[codebase_pb2.ArchiveChunk]:
            yield codebase_pb2.ArchiveChunk(metadata=codebase_pb2.ArchiveChunk.Metadata(
                codebase_id=codebase_id, path=path))
            for data in tar_chunks:
                yield codebase_pb2.ArchiveChunk(data=data)
        result = self._call(self._codebases.UploadArchive, chunks(), deadline=None)
        return UploadResult(result.codebase_id, result.files, result.bytes)

    def import_directory(self, path: str, name: str = "", owner_id: str = "") -> CodebaseInfo:
        """ImportDirectory: serve a server-local directory in place (it must lie under
        the server's storage.import_roots)."""
        request = codebase_pb2.ImportDirectoryRequest(name=name, owner_id=owner_id, path=path)
        return convert.codebase_from_pb(self._call(self._codebases.ImportDirectory, request))

    # ---- sandboxes ----

    def create_sandbox(self, codebase_id: str, permissions: Iterable[RuleLike] = (), *,
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
        return convert.sandbox_from_pb(self._call(self._sandboxes.CreateSandbox, request))

    def get_sandbox(self, sandbox_id: str) -> SandboxInfo:
        request = sandbox_pb2.GetSandboxRequest(sandbox_id=sandbox_id)
        return convert.sandbox_from_pb(self._call(self._sandboxes.GetSandbox, request))

    def list_sandboxes(self, codebase_id: str = "") -> List[SandboxInfo]:
        found: List[SandboxInfo] = []
        token = ""
        while True:
            request = sandbox_pb2.ListSandboxesRequest(codebase_id=codebase_id, page_token=token)
            response = self._call(self._sandboxes.ListSandboxes, request)
            found += [convert.sandbox_from_pb(item) for item in response.sandboxes]
            token = response.next_page_token
            if not token:
                return found

    def start_sandbox(self, sandbox_id: str) -> SandboxInfo:
        request = sandbox_pb2.StartSandboxRequest(sandbox_id=sandbox_id)
        return convert.sandbox_from_pb(self._call(self._sandboxes.StartSandbox, request))

    def stop_sandbox(self, sandbox_id: str) -> SandboxInfo:
        request = sandbox_pb2.StopSandboxRequest(sandbox_id=sandbox_id)
        return convert.sandbox_from_pb(self._call(self._sandboxes.StopSandbox, request))

    def destroy_sandbox(self, sandbox_id: str) -> None:
        request = sandbox_pb2.DestroySandboxRequest(sandbox_id=sandbox_id)
        self._call(self._sandboxes.DestroySandbox, request)

    def exec(self, sandbox_id: str, command: str, *, stdin: Optional[str] = None,
             env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
             timeout: Optional[convert.Seconds] = None) -> ExecResult:
        """Exec: run ``command`` with /bin/sh -c in the sandbox and wait for it."""
        request = convert.exec_request(sandbox_id, command, stdin=stdin, env=env,
                                       workdir=workdir, timeout=timeout)
        response = self._call(self._sandboxes.Exec, request, deadline=convert.rpc_deadline(timeout),
                              command=command, command_timeout=timeout)
        return convert.exec_result_from_pb(response, command)

    def exec_stream(self, sandbox_id: str, command: str, *, stdin: Optional[str] = None,
                    env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
                    timeout: Optional[convert.Seconds] = None) -> Iterator[ExecChunk]:
        """ExecStream: output chunks as they come, then one chunk of kind "exit"."""
        request = convert.exec_request(sandbox_id, command, stdin=stdin, env=env,
                                       workdir=workdir, timeout=timeout)
        call = self._sandboxes.ExecStream(request, timeout=convert.rpc_deadline(timeout))
        for message in self._stream(call, command, timeout):
            yield convert.exec_chunk_from_pb(message)

    # ---- sessions ----

    def create_session(self, sandbox_id: str, shell: str = "",
                       env: Optional[Mapping[str, str]] = None) -> SessionInfo:
        request = sandbox_pb2.CreateSessionRequest(sandbox_id=sandbox_id, shell=shell,
                                                   env=dict(env or {}))
        return convert.session_from_pb(self._call(self._sandboxes.CreateSession, request))

    def get_session(self, session_id: str) -> SessionInfo:
        request = sandbox_pb2.GetSessionRequest(session_id=session_id)
        return convert.session_from_pb(self._call(self._sandboxes.GetSession, request))

    def list_sessions(self, sandbox_id: str) -> List[SessionInfo]:
        request = sandbox_pb2.ListSessionsRequest(sandbox_id=sandbox_id)
        response = self._call(self._sandboxes.ListSessions, request)
        return [convert.session_from_pb(item) for item in response.sessions]

    def destroy_session(self, session_id: str) -> None:
        request = sandbox_pb2.DestroySessionRequest(session_id=session_id)
        self._call(self._sandboxes.DestroySession, request)

    def session_exec(self, session_id: str, command: str, *,
                     timeout: Optional[convert.Seconds] = None) -> ExecResult:
        request = sandbox_pb2.SessionExecRequest(session_id=session_id, command=command,
                                                 timeout=convert.duration_pb(timeout))
        response = self._call(self._sandboxes.SessionExec, request,
                              deadline=convert.rpc_deadline(timeout), command=command,
                              command_timeout=timeout)
        return convert.exec_result_from_pb(response, command)

    def session_exec_stream(self, session_id: str, command: str, *,
                            timeout: Optional[convert.Seconds] = None) -> Iterator[ExecChunk]:
        request = sandbox_pb2.SessionExecRequest(session_id=session_id, command=command,
                                                 timeout=convert.duration_pb(timeout))
        call = self._sandboxes.SessionExecStream(request, timeout=convert.rpc_deadline(timeout))
        for message in self._stream(call, command, timeout):
            yield convert.exec_chunk_from_pb(message)

    # ---- the write layer ----

    def list_changes(self, sandbox_id: str) -> List[FileChange]:
        request = sandbox_pb2.ListChangesRequest(sandbox_id=sandbox_id)
        response = self._call(self._sandboxes.ListChanges, request)
        return [convert.change_from_pb(item) for item in response.changes]

    def diff_changes(self, sandbox_id: str, paths: Iterable[str] = ()) -> str:
        request = sandbox_pb2.DiffChangesRequest(sandbox_id=sandbox_id, paths=list(paths))
        return self._call(self._sandboxes.DiffChanges, request).diff

    def commit_changes(self, sandbox_id: str, paths: Iterable[str] = ()) -> CommitResult:
        request = sandbox_pb2.CommitChangesRequest(sandbox_id=sandbox_id, paths=list(paths))
        return convert.commit_from_pb(self._call(self._sandboxes.CommitChanges, request))

    def discard_changes(self, sandbox_id: str) -> None:
        request = sandbox_pb2.DiscardChangesRequest(sandbox_id=sandbox_id)
        self._call(self._sandboxes.DiscardChanges, request)

    # ---- files through the sandbox's rules ----

    def read_sandbox_file(self, sandbox_id: str, path: str) -> bytes:
        request = sandbox_pb2.ReadSandboxFileRequest(sandbox_id=sandbox_id, path=path)
        return self._call(self._sandboxes.ReadSandboxFile, request).content

    def write_sandbox_file(self, sandbox_id: str, path: str, content: bytes) -> FileInfo:
        request = sandbox_pb2.WriteSandboxFileRequest(sandbox_id=sandbox_id, path=path,
                                                      content=content)
        return convert.file_from_pb(self._call(self._sandboxes.WriteSandboxFile, request))

    def list_sandbox_files(self, sandbox_id: str, path: str = "/",
                           recursive: bool = False) -> List[FileInfo]:
        request = sandbox_pb2.ListSandboxFilesRequest(sandbox_id=sandbox_id, path=path,
                                                      recursive=recursive)
        response = self._call(self._sandboxes.ListSandboxFiles, request)
        return [convert.file_from_pb(item) for item in response.files]
