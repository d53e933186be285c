"""AgentFense Python SDK: run untrusted agents' commands over a codebase in which every
path is none, view, read or write.

    from agentfense import Sandbox
    with Sandbox.from_local("./my-project") as sandbox:   # preset agent-safe by default
        print(sandbox.run("python3 main.py").stdout)
"""

from .async_client import AsyncSandboxClient
from .async_sandbox import AsyncSandbox
from .async_session import AsyncSession
from .client import SandboxClient
from .exceptions import (AuthenticationError, CodebaseNotFoundError, CommandExecutionError,
                         CommandTimeoutError, ConnectionError, FileChangedError,
                         FileNotFoundError, ImageNotFoundError, InvalidConfigurationError,
                         InvalidPathError, NotFoundError, PermissionDeniedError,
                         PolicyWarning, QuotaExceededError, ReviewOutdatedError,
                         RuntimeUnavailableError, SandboxError,
                         SandboxNotFoundError, SandboxNotRunningError, SessionClosedError,
                         SessionNotFoundError, WriteLayerBusyError)
from .presets import (Preset, extend_preset, get_preset, get_preset_info, list_presets,
                      register_preset)
from .progress import UploadProgress
from .sandbox import Sandbox
from .session import Session
from .types import (AuditEvent, ChangeKind, ChangeList, CodebaseInfo, CommitResult, ExecChunk, ExecResult, FileChange,
                    FileInfo, FileList, PatternType, Permission, PermissionRule, ResourceLimits, Review,
                    RuntimeType, SandboxInfo, SandboxStatus, SessionInfo, SyncMode, UploadResult)

__version__ = "0.1.0"

__all__ = [
    "AsyncSandbox", "AsyncSandboxClient", "AuditEvent", "AuthenticationError", "AsyncSession", "ChangeKind", "ChangeList", "CodebaseInfo",
    "CodebaseNotFoundError", "CommandExecutionError", "CommandTimeoutError", "CommitResult",
    "ConnectionError", "ExecChunk", "ExecResult", "FileChange", "FileInfo", "FileList",
    "FileChangedError", "FileNotFoundError", "ImageNotFoundError", "InvalidConfigurationError", "InvalidPathError", "NotFoundError",
    "PatternType", "Permission", "PermissionDeniedError", "PermissionRule", "PolicyWarning",
    "Preset", "QuotaExceededError", "ResourceLimits", "Review", "ReviewOutdatedError", "RuntimeType",
    "RuntimeUnavailableError",
    "Sandbox", "SandboxClient", "SandboxError", "SandboxInfo", "SandboxNotFoundError",
    "SandboxNotRunningError", "SandboxStatus", "Session", "SessionClosedError",
    "SessionInfo", "SessionNotFoundError", "SyncMode", "UploadProgress", "UploadResult",
    "WriteLayerBusyError",
    "extend_preset", "get_preset", "get_preset_info", "list_presets", "register_preset",
]
