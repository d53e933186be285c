"""The I/O-free core of SandboxClient and AsyncSandboxClient: one generator per API call
(see _effects.py). Each builds the request, yields the call, turns the reply into the
SDK's types; pagination and the extra lookups some errors need happen here too, once
for both clients."""

from __future__ import annotations

import json
from pathlib import Path
from typing import (Any, AsyncIterable, Callable, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Union)

from . import _convert as convert
from ._effects import Blocking, Deadline, DEFAULT, ErrorContext, Op, Rpc, ServerStream, Upload
from ._proto import codebase_pb2, sandbox_pb2
from .archive import ArchiveSource, ArchiveUpload, StreamedArchive, collect_entries
from .exceptions import SandboxError, SandboxNotRunningError
from .presets import resolve_rules
from .progress import ProgressOption, progress_reporter
from .types import (AuditEvent, ChangeList, FileList, CodebaseInfo, CommitResult, ExecResult, FileInfo,
                    ResourceLimits, Review, RuleLike, RuntimeType, SandboxInfo, SessionInfo,
                    SyncMode, UploadResult)

ChunkSource = Union[Iterable[bytes], AsyncIterable[bytes]]
UPLOAD_FILE_CHUNK = 1 << 20


def _call(service: str, method: str, request: Any, *, deadline: Deadline = DEFAULT,
          context: Optional[ErrorContext] = None) -> Op[Any]:
    return (yield Rpc(service, method, request, deadline, context or ErrorContext()))


def _all_pages(service: str, method: str, request_for: Callable[[str], Any]) -> Op[List[Any]]:
    """Every page of a listing: ``request_for(page_token)`` until next_page_token is
    empty."""
    pages: List[Any] = []
    token = ""
    while True:
        pages.append((yield from _call(service, method, request_for(token))))
        token = pages[-1].next_page_token
        if not token:
            return pages


def _noting_status(sandbox_id: str, op: Op[Any]) -> Op[Any]:
    """Run ``op``; a SandboxNotRunningError it raises learns the sandbox's status (one
    extra lookup, on the error path only) so the caller can tell "stopped" from
    "never started" from "failed to start"."""
    try:
        return (yield from op)
    except SandboxNotRunningError as error:
        if error.current_status is None:
            try:
                info = yield from get_sandbox(sandbox_id)
                error.current_status = info.status
            except SandboxError:
                pass  # the original error is what matters
        raise


# ---- codebases ----

def create_codebase(name: str, owner_id: str) -> Op[CodebaseInfo]:
    request = codebase_pb2.CreateCodebaseRequest(name=name, owner_id=owner_id)
    return convert.codebase_from_pb((yield from _call("codebase", "CreateCodebase", request)))


def get_codebase(codebase_id: str) -> Op[CodebaseInfo]:
    request = codebase_pb2.GetCodebaseRequest(codebase_id=codebase_id)
    return convert.codebase_from_pb((yield from _call("codebase", "GetCodebase", request)))


def list_codebases(owner_id: str) -> Op[List[CodebaseInfo]]:
    pages = _all_pages("codebase", "ListCodebases",
                       lambda token: codebase_pb2.ListCodebasesRequest(owner_id=owner_id,
                                                                       page_token=token))
    return [convert.codebase_from_pb(item) for page in (yield from pages)
            for item in page.codebases]


def delete_codebase(codebase_id: str) -> Op[None]:
    request = codebase_pb2.DeleteCodebaseRequest(codebase_id=codebase_id)
    yield from _call("codebase", "DeleteCodebase", request)


def upload_file(codebase_id: str, path: str, content: bytes, chunk_size: int) -> Op[UploadResult]:
    head = codebase_pb2.UploadChunk(metadata=codebase_pb2.UploadChunk.Metadata(
        codebase_id=codebase_id, file_path=path, total_size=len(content)))
    pieces = [content[start:start + chunk_size] for start in range(0, len(content), chunk_size)]
    upload = Upload(head, pieces, lambda data: codebase_pb2.UploadChunk(data=data))
    result = yield from _call("codebase", "UploadFiles", upload, deadline=None,
                              context=ErrorContext(path=path))
    return UploadResult(result.codebase_id, 1, result.size)


def upload_archive(codebase_id: str, tar_chunks: ChunkSource, path: str,
                   archive: Union[ArchiveUpload, StreamedArchive, None] = None
                   ) -> Op[UploadResult]:
    head = codebase_pb2.ArchiveChunk(metadata=codebase_pb2.ArchiveChunk.Metadata(
        codebase_id=codebase_id, path=path))
    upload = Upload(head, tar_chunks, lambda data: codebase_pb2.ArchiveChunk(data=data),
                    archive.sent if archive is not None else None)
    result = yield from _call("codebase", "UploadArchive", upload, deadline=None,
                              context=ErrorContext(path=path))
    return UploadResult(result.codebase_id, result.files, result.bytes)


def upload_tar(codebase_id: str, source: ArchiveSource, path: str, progress: ProgressOption,
               total_bytes: Optional[int]) -> Op[UploadResult]:
    """An archive the caller has (file, bytes or chunks), with progress reports."""
    archive = StreamedArchive(source, total_bytes)
    archive.report = progress_reporter(progress, archive.bytes_total)
    return (yield from upload_archive(codebase_id, archive.pieces(), path, archive))


def upload_directory(codebase_id: str, directory: Union[str, Path],
                     ignore_patterns: Optional[Sequence[str]],
                     progress: ProgressOption) -> Op[UploadResult]:
    """The directory as one tar stream, honouring .gitignore/.sandboxignore and
    ``ignore_patterns``; exec bits, symlinks and empty directories are kept."""
    entries = yield Blocking(collect_entries, (Path(directory), ignore_patterns or ()))
    archive = ArchiveUpload(entries)
    archive.report = progress_reporter(progress, archive.bytes_total)
    return (yield from upload_archive(codebase_id, archive.pieces(), "/", archive))


def download_file(codebase_id: str, path: str) -> ServerStream:
    request = codebase_pb2.DownloadFileRequest(codebase_id=codebase_id, file_path=path)
    return ServerStream("codebase", "DownloadFile", request, lambda chunk: chunk.data,
                        context=ErrorContext(path=path))


def list_files(codebase_id: str, path: str, recursive: bool) -> Op[FileList]:
    request = codebase_pb2.ListFilesRequest(codebase_id=codebase_id, path=path,
                                            recursive=recursive)
    response = yield from _call("codebase", "ListFiles", request, context=ErrorContext(path=path))
    return FileList((convert.file_from_pb(item) for item in response.files),
                    truncated=response.truncated)


def import_directory(path: str, name: str, owner_id: str) -> Op[CodebaseInfo]:
    request = codebase_pb2.ImportDirectoryRequest(name=name, owner_id=owner_id, path=path)
    response = yield from _call("codebase", "ImportDirectory", request,
                                context=ErrorContext(path=path))
    return convert.codebase_from_pb(response)


# ---- sandboxes ----

def create_sandbox(codebase_id: str, permissions: Iterable[RuleLike], *, preset: Optional[str],
                   expires_in: Optional[convert.Seconds], labels: Optional[Mapping[str, str]],
                   runtime: Optional[RuntimeType], image: str,
                   resources: Optional[ResourceLimits],
                   sync_mode: Optional[SyncMode]) -> Op[SandboxInfo]:
    request = sandbox_pb2.CreateSandboxRequest(
        codebase_id=codebase_id, permissions=convert.rules_pb(resolve_rules(preset, permissions)),
        expires_in=convert.duration_pb(expires_in), labels=dict(labels or {}),
        runtime=convert.runtime_pb(runtime), image=image or "",
        resources=convert.resources_pb(resources), sync_mode=convert.sync_mode_pb(sync_mode))
    response = yield from _call("sandbox", "CreateSandbox", request)
    convert.warn_about(response)
    return convert.sandbox_from_pb(response)


def get_sandbox(sandbox_id: str) -> Op[SandboxInfo]:
    request = sandbox_pb2.GetSandboxRequest(sandbox_id=sandbox_id)
    return convert.sandbox_from_pb((yield from _call("sandbox", "GetSandbox", request)))


def list_sandboxes(codebase_id: str) -> Op[List[SandboxInfo]]:
    pages = _all_pages("sandbox", "ListSandboxes",
                       lambda token: sandbox_pb2.ListSandboxesRequest(codebase_id=codebase_id,
                                                                      page_token=token))
    return [convert.sandbox_from_pb(item) for page in (yield from pages)
            for item in page.sandboxes]


def start_sandbox(sandbox_id: str) -> Op[SandboxInfo]:
    request = sandbox_pb2.StartSandboxRequest(sandbox_id=sandbox_id)
    return convert.sandbox_from_pb((yield from _call("sandbox", "StartSandbox", request)))


def stop_sandbox(sandbox_id: str) -> Op[SandboxInfo]:
    request = sandbox_pb2.StopSandboxRequest(sandbox_id=sandbox_id)
    call = _call("sandbox", "StopSandbox", request)
    return convert.sandbox_from_pb((yield from _noting_status(sandbox_id, call)))


def destroy_sandbox(sandbox_id: str) -> Op[None]:
    request = sandbox_pb2.DestroySandboxRequest(sandbox_id=sandbox_id)
    yield from _call("sandbox", "DestroySandbox", request)


def _command_context(command: str, timeout: Optional[convert.Seconds]) -> ErrorContext:
    return ErrorContext(command=command, timeout=convert.to_timedelta(timeout))


def exec(sandbox_id: str, command: str, *, stdin: Optional[str],  # noqa: A001 (the RPC's name)
         env: Optional[Mapping[str, str]], workdir: Optional[str],
         timeout: Optional[convert.Seconds]) -> Op[ExecResult]:
    request = convert.exec_request(sandbox_id, command, stdin=stdin, env=env, workdir=workdir,
                                   timeout=timeout)
    call = _call("sandbox", "Exec", request, deadline=convert.rpc_deadline(timeout),
                 context=_command_context(command, timeout))
    return convert.exec_result_from_pb((yield from _noting_status(sandbox_id, call)), command)


def exec_stream(sandbox_id: str, command: str, *, stdin: Optional[str],
                env: Optional[Mapping[str, str]], workdir: Optional[str],
                timeout: Optional[convert.Seconds]) -> ServerStream:
    request = convert.exec_request(sandbox_id, command, stdin=stdin, env=env, workdir=workdir,
                                   timeout=timeout)
    return ServerStream("sandbox", "ExecStream", request, convert.exec_chunk_from_pb,
                        convert.rpc_deadline(timeout), _command_context(command, timeout))


# ---- sessions ----

def create_session(sandbox_id: str, shell: str,
                   env: Optional[Mapping[str, str]]) -> Op[SessionInfo]:
    request = sandbox_pb2.CreateSessionRequest(sandbox_id=sandbox_id, shell=shell,
                                               env=dict(env or {}))
    call = _call("sandbox", "CreateSession", request)
    return convert.session_from_pb((yield from _noting_status(sandbox_id, call)))


def get_session(session_id: str) -> Op[SessionInfo]:
    request = sandbox_pb2.GetSessionRequest(session_id=session_id)
    return convert.session_from_pb((yield from _call("sandbox", "GetSession", request)))


def list_sessions(sandbox_id: str) -> Op[List[SessionInfo]]:
    request = sandbox_pb2.ListSessionsRequest(sandbox_id=sandbox_id)
    response = yield from _call("sandbox", "ListSessions", request)
    return [convert.session_from_pb(item) for item in response.sessions]


def destroy_session(session_id: str) -> Op[None]:
    request = sandbox_pb2.DestroySessionRequest(session_id=session_id)
    yield from _call("sandbox", "DestroySession", request)


def session_exec(session_id: str, command: str,
                 timeout: Optional[convert.Seconds]) -> Op[ExecResult]:
    request = sandbox_pb2.SessionExecRequest(session_id=session_id, command=command,
                                             timeout=convert.duration_pb(timeout))
    response = yield from _call("sandbox", "SessionExec", request,
                                deadline=convert.rpc_deadline(timeout),
                                context=_command_context(command, timeout))
    return convert.exec_result_from_pb(response, command)


def session_exec_stream(session_id: str, command: str,
                        timeout: Optional[convert.Seconds]) -> ServerStream:
    request = sandbox_pb2.SessionExecRequest(session_id=session_id, command=command,
                                             timeout=convert.duration_pb(timeout))
    return ServerStream("sandbox", "SessionExecStream", request, convert.exec_chunk_from_pb,
                        convert.rpc_deadline(timeout), _command_context(command, timeout))


# ---- the write layer ----

def list_changes(sandbox_id: str) -> Op[ChangeList]:
    request = sandbox_pb2.ListChangesRequest(sandbox_id=sandbox_id)
    response = yield from _call("sandbox", "ListChanges", request)
    return ChangeList((convert.change_from_pb(item) for item in response.changes),
                      omitted=response.omitted)


def _selection(paths: Union[str, Iterable[str]]) -> List[str]:
    """The paths a diff, review or commit selects. A single string is one path: iterated,
    `commit("/output/a.txt")` selected "/", "o", "u", ... and "/" selects every change."""
    if isinstance(paths, str):
        return [paths]
    selected = list(paths)
    for path in selected:
        if not isinstance(path, str):
            raise TypeError(f"paths must be strings, got {type(path).__name__}: {path!r}")
    return selected


def diff_changes(sandbox_id: str, paths: Union[str, Iterable[str]]) -> Op[str]:
    request = sandbox_pb2.DiffChangesRequest(sandbox_id=sandbox_id, paths=_selection(paths))
    return str((yield from _call("sandbox", "DiffChanges", request)).diff)


def review_changes(sandbox_id: str, paths: Union[str, Iterable[str]]) -> Op[Review]:
    request = sandbox_pb2.DiffChangesRequest(sandbox_id=sandbox_id, paths=_selection(paths))
    reply = yield from _call("sandbox", "DiffChanges", request)
    return Review(diff=str(reply.diff), token=str(reply.review_token))


def commit_changes(sandbox_id: str, paths: Union[str, Iterable[str]],
                   review_token: Optional[str] = None) -> Op[CommitResult]:
    request = sandbox_pb2.CommitChangesRequest(sandbox_id=sandbox_id, paths=_selection(paths),
                                               review_token=review_token or "")
    return convert.commit_from_pb((yield from _call("sandbox", "CommitChanges", request)))


def discard_changes(sandbox_id: str) -> Op[None]:
    request = sandbox_pb2.DiscardChangesRequest(sandbox_id=sandbox_id)
    yield from _call("sandbox", "DiscardChanges", request)


# ---- files through the sandbox's rules ----

def read_sandbox_file(sandbox_id: str, path: str) -> Op[bytes]:
    request = sandbox_pb2.ReadSandboxFileRequest(sandbox_id=sandbox_id, path=path)
    response = yield from _call("sandbox", "ReadSandboxFile", request,
                                context=ErrorContext(path=path))
    return bytes(response.content)


def write_sandbox_file(sandbox_id: str, path: str, content: bytes) -> Op[FileInfo]:
    request = sandbox_pb2.WriteSandboxFileRequest(sandbox_id=sandbox_id, path=path,
                                                  content=content)
    response = yield from _call("sandbox", "WriteSandboxFile", request,
                                context=ErrorContext(path=path))
    return convert.file_from_pb(response)


def list_sandbox_files(sandbox_id: str, path: str, recursive: bool) -> Op[FileList]:
    request = sandbox_pb2.ListSandboxFilesRequest(sandbox_id=sandbox_id, path=path,
                                                  recursive=recursive)
    response = yield from _call("sandbox", "ListSandboxFiles", request,
                                context=ErrorContext(path=path))
    return FileList((convert.file_from_pb(item) for item in response.files),
                    truncated=response.truncated)


# ---- the audit trail ----

def audit_events(sandbox_id: str, *, since, kind: str, outcome: str, path: str, op: str,
                 follow: bool) -> ServerStream:
    request = sandbox_pb2.GetAuditEventsRequest(
        sandbox_id=sandbox_id, since=convert.audit_since(since), kind=kind, outcome=outcome,
        path=path, op=op, follow=follow)
    # Following has no end of its own: no client deadline.
    return ServerStream("sandbox", "GetAuditEvents", request,
                        lambda event: AuditEvent.from_line(event.line),
                        None if follow else DEFAULT)


def audit_summary(sandbox_id: str) -> Op[Dict[str, Any]]:
    request = sandbox_pb2.GetAuditSummaryRequest(sandbox_id=sandbox_id)
    response = yield from _call("sandbox", "GetAuditSummary", request)
    return json.loads(response.json)
