"""Conversions between the SDK's types and the sandbox.v1 protobuf messages. Shared by
the sync and async clients so the two cannot disagree."""

from __future__ import annotations

import datetime
import warnings
from typing import Iterable, List, Mapping, Optional, Union

from google.protobuf import duration_pb2, timestamp_pb2

from ._proto import codebase_pb2, common_pb2, sandbox_pb2
from .exceptions import PolicyWarning, display_safe
from .types import (ChangeKind, CodebaseInfo, CommitResult, ExecChunk, ExecResult,
                    FileChange, FileInfo, PatternType, Permission, PermissionRule,
                    ResourceLimits, RuntimeType, RuleLike, SandboxInfo, SandboxStatus,
                    SessionInfo, SyncMode)

Seconds = Union[float, int, datetime.timedelta]

_PERMISSION_TO_PB = {Permission.NONE: common_pb2.PERMISSION_NONE,
                     Permission.VIEW: common_pb2.PERMISSION_VIEW,
                     Permission.READ: common_pb2.PERMISSION_READ,
                     Permission.WRITE: common_pb2.PERMISSION_WRITE}
_PERMISSION_FROM_PB = {value: key for key, value in _PERMISSION_TO_PB.items()}
_TYPE_TO_PB = {PatternType.GLOB: common_pb2.PATTERN_TYPE_GLOB,
               PatternType.DIRECTORY: common_pb2.PATTERN_TYPE_DIRECTORY,
               PatternType.FILE: common_pb2.PATTERN_TYPE_FILE}
_TYPE_FROM_PB = {value: key for key, value in _TYPE_TO_PB.items()}
_RUNTIME_TO_PB = {RuntimeType.DEFAULT: common_pb2.RUNTIME_TYPE_UNSPECIFIED,
                  RuntimeType.BWRAP: common_pb2.RUNTIME_TYPE_BWRAP,
                  RuntimeType.DOCKER: common_pb2.RUNTIME_TYPE_DOCKER}
_RUNTIME_FROM_PB = {value: key for key, value in _RUNTIME_TO_PB.items()}
_SYNC_TO_PB = {SyncMode.DEFAULT: common_pb2.SYNC_MODE_UNSPECIFIED,
               SyncMode.ON_COMMAND_COMPLETE: common_pb2.SYNC_MODE_ON_COMMAND_COMPLETE,
               SyncMode.MANUAL: common_pb2.SYNC_MODE_MANUAL}
_SYNC_FROM_PB = {value: key for key, value in _SYNC_TO_PB.items()}
_STATUS_FROM_PB = {common_pb2.SANDBOX_STATUS_PENDING: SandboxStatus.PENDING,
                   common_pb2.SANDBOX_STATUS_RUNNING: SandboxStatus.RUNNING,
                   common_pb2.SANDBOX_STATUS_STOPPED: SandboxStatus.STOPPED,
                   common_pb2.SANDBOX_STATUS_ERROR: SandboxStatus.ERROR}
_CHANGE_FROM_PB = {sandbox_pb2.CHANGE_KIND_ADDED: ChangeKind.ADDED,
                   sandbox_pb2.CHANGE_KIND_MODIFIED: ChangeKind.MODIFIED,
                   sandbox_pb2.CHANGE_KIND_DELETED: ChangeKind.DELETED}
_OUTPUT_KIND = {sandbox_pb2.ExecOutput.OUTPUT_TYPE_STDOUT: "stdout",
                sandbox_pb2.ExecOutput.OUTPUT_TYPE_STDERR: "stderr",
                sandbox_pb2.ExecOutput.OUTPUT_TYPE_EXIT: "exit"}


def to_timedelta(value: Optional[Seconds]) -> Optional[datetime.timedelta]:
    if value is None or isinstance(value, datetime.timedelta):
        return value
    return datetime.timedelta(seconds=float(value))


def duration_pb(value: Optional[Seconds]) -> Optional[duration_pb2.Duration]:
    delta = to_timedelta(value)
    if delta is None:
        return None
    message = duration_pb2.Duration()
    message.FromTimedelta(delta)
    return message


def _timestamp(message: timestamp_pb2.Timestamp) -> Optional[datetime.datetime]:
    if message.seconds == 0 and message.nanos == 0:
        return None
    return message.ToDatetime(tzinfo=datetime.timezone.utc)


def rule_pb(rule: RuleLike) -> common_pb2.PermissionRule:
    parsed = PermissionRule.from_value(rule)
    return common_pb2.PermissionRule(pattern=parsed.pattern, type=_TYPE_TO_PB[parsed.type],
                                     permission=_PERMISSION_TO_PB[parsed.permission],
                                     priority=parsed.priority)


def rules_pb(rules: Iterable[RuleLike]) -> List[common_pb2.PermissionRule]:
    return [rule_pb(rule) for rule in rules]


def rule_from_pb(message: common_pb2.PermissionRule) -> PermissionRule:
    return PermissionRule(pattern=message.pattern,
                          permission=_PERMISSION_FROM_PB.get(message.permission, Permission.NONE),
                          priority=message.priority,
                          type=_TYPE_FROM_PB.get(message.type, PatternType.GLOB))


def runtime_pb(runtime: Union[RuntimeType, str, None]) -> common_pb2.RuntimeType:
    return _RUNTIME_TO_PB[RuntimeType(runtime or RuntimeType.DEFAULT)]


def sync_mode_pb(mode: Union[SyncMode, str, None]) -> common_pb2.SyncMode:
    return _SYNC_TO_PB[SyncMode(mode or SyncMode.DEFAULT)]


def resources_pb(limits: Optional[ResourceLimits]) -> Optional[common_pb2.ResourceLimits]:
    if limits is None:
        return None
    return common_pb2.ResourceLimits(memory_bytes=limits.memory_bytes or 0,
                                     cpu_quota=limits.cpu_quota or 0,
                                     cpu_shares=limits.cpu_shares or 0,
                                     pids_limit=limits.pids_limit or 0,
                                     disk_bytes=limits.disk_bytes or 0,
                                     disk_inodes=limits.disk_inodes or 0)


def sandbox_from_pb(message: sandbox_pb2.Sandbox) -> SandboxInfo:
    limits = message.resources
    return SandboxInfo(
        id=message.id, codebase_id=message.codebase_id,
        status=_STATUS_FROM_PB.get(message.status, SandboxStatus.UNSPECIFIED),
        permissions=[rule_from_pb(rule) for rule in message.permissions],
        labels=dict(message.labels),
        runtime=_RUNTIME_FROM_PB.get(message.runtime, RuntimeType.DEFAULT), image=message.image,
        resources=ResourceLimits(limits.memory_bytes or None, limits.cpu_quota or None,
                                 limits.cpu_shares or None, limits.pids_limit or None,
                                 limits.disk_bytes or None, limits.disk_inodes or None),
        sync_mode=_SYNC_FROM_PB.get(message.sync_mode, SyncMode.DEFAULT),
        error_message=message.error_message, created_at=_timestamp(message.created_at),
        started_at=_timestamp(message.started_at), stopped_at=_timestamp(message.stopped_at),
        expires_at=_timestamp(message.expires_at))


def warn_about(message: object) -> None:
    """Show the warnings a reply carries (a ``warnings`` field, where the server sends
    one: rules that do not do what they look like) as Python warnings."""
    for text in getattr(message, "warnings", ()):
        # They quote codebase paths, which the agent may have named: escaped for the
        # stderr the warnings module prints them on.
        warnings.warn(display_safe(str(text)), PolicyWarning, stacklevel=2)


def session_from_pb(message: sandbox_pb2.Session) -> SessionInfo:
    return SessionInfo(id=message.id, sandbox_id=message.sandbox_id,
                       active=message.status == common_pb2.SESSION_STATUS_ACTIVE,
                       shell=message.shell, created_at=_timestamp(message.created_at),
                       closed_at=_timestamp(message.closed_at))


def codebase_from_pb(message: codebase_pb2.Codebase) -> CodebaseInfo:
    return CodebaseInfo(id=message.id, name=message.name, owner_id=message.owner_id,
                        size=message.size, file_count=message.file_count,
                        imported_from=message.imported_from,
                        created_at=_timestamp(message.created_at),
                        updated_at=_timestamp(message.updated_at))


def exec_result_from_pb(message: sandbox_pb2.ExecResult, command: str) -> ExecResult:
    return ExecResult(stdout=message.stdout, stderr=message.stderr, exit_code=message.exit_code,
                      duration=message.duration.ToTimedelta(), command=command,
                      stdout_truncated=message.stdout_truncated,
                      stderr_truncated=message.stderr_truncated,
                      oom_killed=message.oom_killed,
                      pids_limit_reached=message.pids_limit_reached,
                      stdout_bytes=message.stdout_bytes or None,
                      stderr_bytes=message.stderr_bytes or None)


def exec_chunk_from_pb(message: sandbox_pb2.ExecOutput) -> ExecChunk:
    kind = _OUTPUT_KIND.get(message.type, "stdout")
    if kind == "exit":
        return ExecChunk(kind="exit", exit_code=message.exit_code,
                         duration=message.duration.ToTimedelta())
    return ExecChunk(kind=kind, data=message.data)


def file_from_pb(message: Union[codebase_pb2.FileInfo, sandbox_pb2.SandboxFileInfo]) -> FileInfo:
    permission = None
    if isinstance(message, sandbox_pb2.SandboxFileInfo):
        permission = _PERMISSION_FROM_PB.get(message.permission)
    return FileInfo(path=message.path, name=message.name, is_dir=message.is_dir,
                    size=message.size, modified_at=_timestamp(message.modified_at),
                    permission=permission)


def change_from_pb(message: sandbox_pb2.FileChange) -> FileChange:
    return FileChange(path=message.path,
                      kind=_CHANGE_FROM_PB.get(message.kind, ChangeKind.UNSPECIFIED),
                      is_dir=message.is_dir, is_symlink=message.is_symlink)


def commit_from_pb(message: sandbox_pb2.CommitChangesResponse) -> CommitResult:
    return CommitResult(applied=list(message.applied), denied=list(message.denied),
                        conflicts=list(message.conflicts), reasons=dict(message.reasons),
                        notes=dict(message.notes), applied_omitted=message.applied_omitted,
                        denied_omitted=message.denied_omitted,
                        conflicts_omitted=message.conflicts_omitted)


def exec_request(sandbox_id: str, command: str, *, stdin: Optional[str] = None,
                 env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
                 timeout: Optional[Seconds] = None) -> sandbox_pb2.ExecRequest:
    return sandbox_pb2.ExecRequest(sandbox_id=sandbox_id, command=command, stdin=stdin or "",
                                   env=dict(env or {}), workdir=workdir or "",
                                   timeout=duration_pb(timeout))


# Extra time the transport deadline allows beyond a command's own timeout, so that the
# server (which kills the command and answers COMMAND_TIMEOUT) speaks first.
DEADLINE_GRACE_SECONDS = 30.0


def rpc_deadline(timeout: Optional[Seconds]) -> Optional[float]:
    delta = to_timedelta(timeout)
    return None if delta is None else delta.total_seconds() + DEADLINE_GRACE_SECONDS


def audit_since(since: Union[None, str, datetime.datetime]) -> str:
    """The RFC 3339 UTC text of GetAuditEventsRequest.since; a naive datetime is UTC."""
    if since is None:
        return ""
    if isinstance(since, datetime.datetime):
        if since.tzinfo is not None:
            since = since.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return since.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(since)
