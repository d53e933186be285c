"""Exception hierarchy and the mapping from gRPC errors to it.

The server attaches a stable machine-readable word as trailing metadata
"agentfense-reason" (src/server/api.h); it is consulted first because several errors
share a status code (an unknown sandbox and an unknown codebase are both NOT_FOUND).
The status code is the fallback for errors without a reason (e.g. from a proxy).
"""

from __future__ import annotations

import builtins
import datetime
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Type

import grpc

if TYPE_CHECKING:
    from ._effects import ErrorContext
    from .types import SandboxStatus

REASON_METADATA_KEY = "agentfense-reason"
# What a command printed before it was killed at its timeout: a serialized
# sandbox.v1.ExecResult in this trailing metadata entry of the DEADLINE_EXCEEDED reply.
PARTIAL_RESULT_METADATA_KEY = "agentfense-exec-result-bin"


# The most of a command's stderr an exception message quotes (its attributes keep all).
_MAX_QUOTED_CHARS = 500


def display_safe(text: str, limit: Optional[int] = None) -> str:
    """``text`` as it may be shown to a person: every character that is not printable
    (C0/C1 controls, DEL, bidi and other format characters, line and paragraph
    separators, lone surrogates) written as a ``\\xNN``/``\\uNNNN`` escape, so that
    text from the sandbox cannot drive the terminal of whoever reads a traceback or a
    log (OSC 52 sets the clipboard, CSI 8m hides the rest). ``limit`` caps the result,
    marking the cut with "...". The same rules as the CLI's review and the server's
    error messages."""
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    shown = "".join(out)
    if limit is not None and len(shown) > limit:
        shown = shown[:limit] + "..."
    return shown


class SandboxError(Exception):
    """Base class of every error the SDK raises. ``code`` is the gRPC status (None for
    errors detected locally), ``reason`` the server's reason word, ``details`` its
    message."""

    def __init__(self, message: str, *, code: Optional[grpc.StatusCode] = None,
                 reason: str = "", details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.details = details or message


class ConnectionError(SandboxError, builtins.ConnectionError):  # noqa: A001 (documented name)
    """The server could not be reached; ``endpoint`` says where it was looked for."""

    def __init__(self, message: str, *, endpoint: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.endpoint = endpoint


class AuthenticationError(SandboxError):
    """The server did not accept this client's credentials: no API key where one is
    required, a key it does not know (mistyped or revoked), or an unmapped client
    certificate. The message says which; set ``api_key=`` or $AGENTFENSE_API_KEY."""


class NotFoundError(SandboxError):
    """Something the request named does not exist (base of the specific *NotFound)."""


class SandboxNotFoundError(NotFoundError):
    pass


class CodebaseNotFoundError(NotFoundError):
    pass


class SessionNotFoundError(NotFoundError):
    pass


class FileNotFoundError(NotFoundError, builtins.FileNotFoundError):  # noqa: A001
    """The path does not exist, or is hidden from the sandbox (level none)."""


class SandboxNotRunningError(SandboxError):
    """The sandbox must be running for this call (exec, sessions): start() it.
    ``current_status`` is its status when the call failed (a SandboxStatus, which
    compares equal to its value: ``== "stopped"``), None if it could not be learnt."""

    def __init__(self, message: str, *, current_status: Optional["SandboxStatus"] = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.current_status = current_status


class SessionClosedError(SandboxError):
    pass


class InvalidConfigurationError(SandboxError, ValueError):
    """Bad input: an invalid rule, unknown preset, bad option. The message names it."""


class InvalidPathError(InvalidConfigurationError):
    pass


class PermissionDeniedError(SandboxError, PermissionError):
    """The sandbox's rules (or the server's configuration) do not allow this.
    ``path`` is the path the refused call named (None when it named none)."""

    def __init__(self, message: str, *, path: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.path = path


class QuotaExceededError(SandboxError):
    pass


class RuntimeUnavailableError(SandboxError):
    """The requested runtime (e.g. docker) is not available on the server."""


class WriteLayerBusyError(SandboxError):
    """The sandbox is stopped, but another process still holds its write layer (an fs
    process a crashed server left behind; the message names its pid): its changes can be
    neither listed, diffed, committed nor discarded until that process is gone."""


class ReviewOutdatedError(SandboxError):
    """A commit given a review token found the changes no longer those reviewed (a
    process in the sandbox changed them since): nothing was committed; review again."""


class ImageNotFoundError(RuntimeUnavailableError):
    """The sandbox's Docker image is not in the server's dockerd (the server never pulls
    images: pull, load or build it there first)."""


class CommandTimeoutError(SandboxError, TimeoutError):
    """A command ran longer than its timeout and was killed. ``timeout`` is in
    seconds; ``stdout``/``stderr`` hold what it printed before, when the server sends
    that (empty otherwise)."""

    def __init__(self, message: str, *, command: str = "", timeout: Optional[float] = None,
                 stdout: str = "", stderr: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.command = command
        self.timeout = timeout
        self.stdout = stdout
        self.stderr = stderr


class CommandExecutionError(SandboxError):
    """A command exited non-zero and the caller asked for raise_on_error. The message
    quotes the last line of its stderr with control characters escaped (see
    ``display_safe``); ``stdout``/``stderr`` hold the output as it was."""

    def __init__(self, command: str, exit_code: int, stdout: str, stderr: str) -> None:
        # The agent writes stderr: quoted escaped and capped; ``stderr`` keeps it raw.
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        tail = display_safe(tail, _MAX_QUOTED_CHARS)
        super().__init__(f"command {command!r} exited with {exit_code}"
                         + (f": {tail}" if tail else ""))
        self.command = command
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr


class FileChangedError(SandboxError, OSError):
    """A local file changed while upload_directory (or from_local) was uploading it:
    removed, replaced (by a symlink, say) or resized since the directory was listed.
    Nothing of what is now in its place was sent and the upload failed; ``path`` names
    the file. Upload again, or leave out a file that keeps changing (a log being
    written) with an ignore pattern."""

    def __init__(self, message: str, *, path: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.path = path


class PolicyWarning(UserWarning):
    """The server accepted the rules but found one that does not do what it looks
    like (e.g. a ``none`` rule that a more specific rule overrides): shown with the
    warnings module when the sandbox is created."""


_BY_REASON: Dict[str, Type[SandboxError]] = {
    "CODEBASE_NOT_FOUND": CodebaseNotFoundError,
    "SANDBOX_NOT_FOUND": SandboxNotFoundError,
    "SESSION_NOT_FOUND": SessionNotFoundError,
    "FILE_NOT_FOUND": FileNotFoundError,
    "SANDBOX_NOT_RUNNING": SandboxNotRunningError,
    "SESSION_CLOSED": SessionClosedError,
    "INVALID_RULE": InvalidConfigurationError,
    "INVALID_PATH": InvalidPathError,
    "COMMAND_TIMEOUT": CommandTimeoutError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "QUOTA_EXCEEDED": QuotaExceededError,
    "RUNTIME_UNAVAILABLE": RuntimeUnavailableError,
    "UNAUTHENTICATED": AuthenticationError,
    "IMAGE_NOT_FOUND": ImageNotFoundError,
    "WRITE_LAYER_BUSY": WriteLayerBusyError,
    "REVIEW_OUTDATED": ReviewOutdatedError,
}

_BY_CODE: Dict[grpc.StatusCode, Type[SandboxError]] = {
    grpc.StatusCode.UNAVAILABLE: ConnectionError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidConfigurationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: QuotaExceededError,
}


def _metadata(error: grpc.RpcError) -> Any:
    trailing = getattr(error, "trailing_metadata", None)
    try:
        metadata = trailing() if callable(trailing) else None
    except Exception:  # a call that never reached the server may have none
        metadata = None
    return metadata or ()


def _reason_of(error: grpc.RpcError) -> str:
    for key, value in _metadata(error):
        if key == REASON_METADATA_KEY:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


def _partial_output(error: grpc.RpcError) -> Tuple[str, str]:
    """stdout and stderr the server attached to a timeout, else empty."""
    for key, value in _metadata(error):
        if key == PARTIAL_RESULT_METADATA_KEY and isinstance(value, bytes):
            from ._proto import sandbox_pb2

            result = sandbox_pb2.ExecResult()
            try:
                result.ParseFromString(value)
            except Exception:  # noqa: BLE001 (a malformed attachment: no partial output)
                return "", ""
            return result.stdout, result.stderr
    return "", ""


def from_rpc_error(error: grpc.RpcError, *, endpoint: str = "",
                   command: Optional[str] = None,
                   timeout: Optional[datetime.timedelta] = None,
                   context: Optional["ErrorContext"] = None) -> SandboxError:
    """Translate a failed gRPC call into the SDK exception its reason (else its status
    code) names. ``context`` (or ``command``/``timeout``) says what the call was about:
    an exec's timeout error carries its command and timeout (and a client-side deadline
    on an exec counts as a command timeout), a refused file call its path."""
    if context is not None:
        command = context.command if context.command is not None else command
        timeout = context.timeout if context.timeout is not None else timeout
    path = context.path if context is not None else None
    code_fn = getattr(error, "code", None)
    code: Optional[grpc.StatusCode] = code_fn() if callable(code_fn) else None
    details_fn = getattr(error, "details", None)
    details = (details_fn() if callable(details_fn) else None) or str(code or error)
    reason = _reason_of(error)
    cls = _BY_REASON.get(reason) or (_BY_CODE.get(code) if code is not None else None)
    if cls is None and code == grpc.StatusCode.DEADLINE_EXCEEDED and command is not None:
        cls = CommandTimeoutError
    cls = cls or SandboxError
    common: Dict[str, Any] = {"code": code, "reason": reason, "details": details}
    if cls is ConnectionError:
        return ConnectionError(f"cannot reach the AgentFense server at {endpoint}: {details}",
                               endpoint=endpoint, **common)
    if cls is CommandTimeoutError:
        seconds = timeout.total_seconds() if timeout is not None else None
        limit = f" after {seconds:g}s" if seconds is not None else ""
        stdout, stderr = _partial_output(error)
        return CommandTimeoutError(f"command {command!r} timed out{limit}: {details}",
                                   command=command or "", timeout=seconds, stdout=stdout,
                                   stderr=stderr, **common)
    if cls is PermissionDeniedError:
        return PermissionDeniedError(details, path=path, **common)
    return cls(details, **common)
