"""The SDK's value types: permission rules, resource limits, exec results and the
records the server returns, as plain dataclasses and enums independent of protobuf."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

from .exceptions import InvalidConfigurationError


class Permission(str, enum.Enum):
    """What the agent can do with a path (DESIGN.md: none < view < read < write)."""

    NONE = "none"  # the path does not exist for the agent
    VIEW = "view"  # name and metadata only
    READ = "read"  # content readable
    WRITE = "write"  # read, modify, create, delete

    @classmethod
    def parse(cls, value: Union["Permission", str]) -> "Permission":
        """Accepts an enum member, "read", "READ" or the wire name "PERMISSION_READ"."""
        if isinstance(value, Permission):
            return value
        text = str(value).strip().lower()
        if text.startswith("permission_"):
            text = text[len("permission_"):]
        try:
            return cls(text)
        except ValueError:
            raise InvalidConfigurationError(
                f"unknown permission {value!r} (expected none, view, read or write)"
            ) from None


class PatternType(str, enum.Enum):
    """How a rule's pattern is interpreted."""

    GLOB = "glob"  # *.md, **/secrets/**
    DIRECTORY = "directory"  # /docs/: the directory and everything below it
    FILE = "file"  # /config.yaml: exactly that path

    @classmethod
    def parse(cls, value: Union["PatternType", str]) -> "PatternType":
        if isinstance(value, PatternType):
            return value
        text = str(value).strip().lower()
        if text.startswith("pattern_type_"):
            text = text[len("pattern_type_"):]
        try:
            return cls(text)
        except ValueError:
            raise InvalidConfigurationError(
                f"unknown pattern type {value!r} (expected glob, directory or file)"
            ) from None


class RuntimeType(str, enum.Enum):
    """Isolation backend; DEFAULT lets the server's runtime.type decide."""

    DEFAULT = "default"
    BWRAP = "bwrap"
    DOCKER = "docker"


class SandboxStatus(str, enum.Enum):
    UNSPECIFIED = "unspecified"
    PENDING = "pending"  # created, not started
    RUNNING = "running"  # mounted; accepts exec and sessions
    STOPPED = "stopped"  # unmounted; its write layer is kept
    ERROR = "error"  # start failed; see SandboxInfo.error_message


class SyncMode(str, enum.Enum):
    """When a sandbox's writes reach its codebase."""

    DEFAULT = "default"  # the server's default: after every command
    ON_COMMAND_COMPLETE = "on_command_complete"
    MANUAL = "manual"  # nothing reaches the codebase until commit()


class ChangeKind(str, enum.Enum):
    UNSPECIFIED = "unspecified"
    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"


@dataclass(frozen=True, init=False)
class PermissionRule:
    """One access rule. Higher priority wins; on a tie the more specific pattern wins,
    then the rule that comes later in the list (so user rules appended after a preset's
    override the preset's rules at the same priority). ``permission`` and ``type``
    accept their enum or its name ("read", "PERMISSION_READ", "directory").
    ``permission`` has no default: a rule that names none is refused, as the server and
    rules files refuse it (a silent "read" exposed what a rule at priority 100 was
    written to pin)."""

    pattern: str
    permission: Permission
    priority: int
    type: PatternType

    def __init__(self, pattern: str, permission: Union[Permission, str, None] = None,
                 priority: int = 0, type: Union[PatternType, str] = PatternType.GLOB) -> None:
        if not isinstance(pattern, str) or not pattern.strip():
            raise InvalidConfigurationError(f"rule {pattern!r}: pattern must be a non-empty string")
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "type", PatternType.parse(type))
        object.__setattr__(self, "priority", priority)
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise InvalidConfigurationError(
                f"rule {self.pattern!r}: priority must be an integer, got {self.priority!r}")
        if not -(2**31) <= self.priority < 2**31:
            raise InvalidConfigurationError(
                f"rule {self.pattern!r}: priority {self.priority} does not fit in int32")
        if permission is None:
            raise InvalidConfigurationError(
                f"rule {pattern!r}: missing 'permission' (none, view, read or write)")
        object.__setattr__(self, "permission", Permission.parse(permission))

    @classmethod
    def from_value(cls, value: Union["PermissionRule", Mapping[str, Any]]) -> "PermissionRule":
        """Accepts a PermissionRule or a dict {"pattern", "permission", "priority"?,
        "type"?}; unknown keys are an error naming the rule."""
        if isinstance(value, PermissionRule):
            return value
        if not isinstance(value, Mapping):
            raise InvalidConfigurationError(f"rule {value!r}: expected a dict or PermissionRule")
        unknown = set(value) - {"pattern", "permission", "priority", "type"}
        if unknown:
            raise InvalidConfigurationError(f"rule {dict(value)!r}: unknown keys {sorted(unknown)}")
        if "pattern" not in value:
            raise InvalidConfigurationError(f"rule {dict(value)!r}: missing 'pattern'")
        return cls(pattern=value["pattern"], permission=value.get("permission"),
                   priority=value.get("priority", 0), type=value.get("type", "glob"))

    def to_dict(self) -> Dict[str, Any]:
        return {"pattern": self.pattern, "permission": self.permission.value,
                "priority": self.priority, "type": self.type.value}


RuleLike = Union[PermissionRule, Mapping[str, Any]]


@dataclass(frozen=True)
class ResourceLimits:
    """Per-sandbox limits; None (or 0) means unlimited, except for the disk limits.

    ``disk_bytes`` and ``disk_inodes`` bound the sandbox's write layer (what it creates or
    changes before a commit): beyond them writes inside fail with "No space left on
    device" and ``df`` there shows them. None (or 0) means the server's default
    (``sandbox.disk_bytes``, 10 GiB, and ``sandbox.disk_inodes``, 1,000,000), which is
    also the most a sandbox may ask for.
    """

    memory_bytes: Optional[int] = None
    # Docker's unit on both runtimes: microseconds of CPU per 100 ms period (100000 = one
    # CPU, 25000 = a quarter of one; at least 1000).
    cpu_quota: Optional[int] = None
    cpu_shares: Optional[int] = None  # relative weight, 1024 = default
    pids_limit: Optional[int] = None
    disk_bytes: Optional[int] = None  # bytes of files; 4 KiB per directory or symlink
    disk_inodes: Optional[int] = None  # names: files, directories, symlinks, hard links


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one command."""

    stdout: str
    stderr: str
    exit_code: int
    duration: datetime.timedelta
    command: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    # The kernel killed a process of the command for exceeding the sandbox's memory limit
    # (exit_code is 137 when that was the command itself); see ``reason``.
    oom_killed: bool = False
    # A fork of the command failed because the sandbox's pids limit was reached.
    pids_limit_reached: bool = False
    # The exact output when it was not valid UTF-8 (``stdout``/``stderr`` then show each
    # invalid byte as U+FFFD); None when the text is the output.
    stdout_bytes: Optional[bytes] = None
    stderr_bytes: Optional[bytes] = None

    @property
    def success(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_code == 0

    @property
    def reason(self) -> str:
        """Why the command ended, in words: "" for an ordinary exit."""
        if self.oom_killed and self.exit_code == 137:
            return "killed: out of memory (the sandbox's memory limit)"
        if self.exit_code > 128:
            return f"killed by signal {self.exit_code - 128}"
        if self.pids_limit_reached and self.exit_code != 0:
            return "a fork failed: the sandbox's process limit (pids_limit) was reached"
        return ""

    @property
    def output(self) -> str:
        """stdout followed by stderr (the order in which a terminal usually shows them is
        not recoverable from a non-streamed result)."""
        if self.stdout and self.stderr and not self.stdout.endswith("\n"):
            return self.stdout + "\n" + self.stderr
        return self.stdout + self.stderr


@dataclass(frozen=True)
class ExecChunk:
    """One message of a streamed command: output bytes, or (last) the exit status."""

    kind: str  # "stdout", "stderr" or "exit"
    data: bytes = b""
    exit_code: Optional[int] = None
    duration: Optional[datetime.timedelta] = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    @property
    def is_exit(self) -> bool:
        return self.kind == "exit"


@dataclass(frozen=True)
class SandboxInfo:
    id: str
    codebase_id: str
    status: SandboxStatus
    permissions: List[PermissionRule]
    labels: Dict[str, str]
    runtime: RuntimeType
    image: str
    resources: ResourceLimits
    sync_mode: SyncMode
    error_message: str
    created_at: Optional[datetime.datetime] = None
    started_at: Optional[datetime.datetime] = None
    stopped_at: Optional[datetime.datetime] = None
    expires_at: Optional[datetime.datetime] = None


@dataclass(frozen=True)
class SessionInfo:
    id: str
    sandbox_id: str
    active: bool
    shell: str
    created_at: Optional[datetime.datetime] = None
    closed_at: Optional[datetime.datetime] = None


@dataclass(frozen=True)
class CodebaseInfo:
    id: str
    name: str
    owner_id: str
    size: int
    file_count: int
    imported_from: str = ""
    created_at: Optional[datetime.datetime] = None
    updated_at: Optional[datetime.datetime] = None


@dataclass(frozen=True)
class FileInfo:
    """A file as listed by the server; permission is set for files seen through a
    sandbox (None for a codebase listing)."""

    path: str
    name: str
    is_dir: bool
    size: int
    modified_at: Optional[datetime.datetime] = None
    permission: Optional[Permission] = None


@dataclass(frozen=True)
class FileChange:
    path: str
    kind: ChangeKind
    is_dir: bool = False
    is_symlink: bool = False


class FileList(List[FileInfo]):
    """The entries a listing returned: a list, plus ``truncated``, true when a recursive
    listing stopped at 100,000 entries or 4 MiB of paths (list a subdirectory to see
    the rest)."""

    def __init__(self, files: Iterable[FileInfo] = (), truncated: bool = False) -> None:
        super().__init__(files)
        self.truncated = truncated


class ChangeList(List[FileChange]):
    """The changes a listing returned: a list, plus ``omitted``, how many more there are
    (one reply lists at most 4 MiB of paths; the first, in path order)."""

    def __init__(self, changes: Iterable[FileChange] = (), omitted: int = 0) -> None:
        super().__init__(changes)
        self.omitted = omitted


@dataclass(frozen=True)
class Review:
    """What ``Sandbox.review()`` returns: the diff to read, and the token that commits
    exactly those changes (``commit(paths, review_token=review.token)``), or nothing if a
    process in the sandbox changed them since. The token covers every selected change,
    also those a diff cut at 16 MiB leaves out."""
    diff: str
    token: str


@dataclass(frozen=True)
class CommitResult:
    applied: List[str] = field(default_factory=list)
    denied: List[str] = field(default_factory=list)  # no write permission there
    conflicts: List[str] = field(default_factory=list)  # the codebase changed meanwhile
    reasons: Dict[str, str] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)  # applied, but adjusted (modes)
    # Paths left out of each list (at most 4 MiB of paths each); the commit applied the
    # omitted applied ones all the same.
    applied_omitted: int = 0
    denied_omitted: int = 0
    conflicts_omitted: int = 0

    @property
    def ok(self) -> bool:
        return not self.denied and not self.conflicts


@dataclass(frozen=True)
class UploadResult:
    codebase_id: str
    files: int
    bytes: int


# Sandbox.audit(since=...): a datetime (naive = UTC) or RFC 3339 UTC text.
AuditSince = Union[None, str, datetime.datetime]


@dataclass(frozen=True)
class AuditEvent:
    """One line of a sandbox's audit trail (docs/audit.md lists every field).

    ``seq``: 1, 2, 3... in trail order; ``time``: when it happened (UTC); ``kind``:
    "file" (from the filesystem), "security" (from the server) or "audit" (the trail's
    own notices); ``op``: the operation ("open_read", "lookup", "exec",
    "sandbox_created", ...); ``path``/``path2``: the path(s) as the agent names them
    ("/"-rooted, empty for security events); ``outcome``: "allowed" or "denied";
    ``errno``/``reason``: what a denied agent got and why ("hidden", "level", ...);
    ``rule``: the deciding rule of a file event; ``count``: how many times (coalescing);
    ``caller``: the principal of a security event; ``fields``: the whole event as a dict
    (security events' extra fields such as "command", "exit_code", "rules");
    ``line``: the trail line exactly as written, hash chain included, to verify or forward."""

    seq: int
    time: datetime.datetime
    kind: str
    op: str
    path: str
    path2: str
    outcome: str
    errno: str
    reason: str
    rule: Optional[str]
    count: int
    caller: str
    fields: Dict[str, Any]
    line: str

    @property
    def denied(self) -> bool:
        return self.outcome == "denied"

    @classmethod
    def from_line(cls, line: str) -> "AuditEvent":
        import json
        event = json.loads(line)
        ts = event.get("ts", "")
        time = (datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
                .replace(tzinfo=datetime.timezone.utc) if ts else
                datetime.datetime.fromtimestamp(0, datetime.timezone.utc))
        return cls(seq=int(event.get("seq", 0)), time=time, kind=event.get("kind", ""),
                   op=event.get("op", ""), path=event.get("path", ""),
                   path2=event.get("path2", ""), outcome=event.get("outcome", ""),
                   errno=event.get("errno", ""), reason=event.get("reason", ""),
                   rule=event.get("rule"), count=int(event.get("count", 1)),
                   caller=event.get("caller", ""), fields=event, line=line)
