"""Mapping of gRPC failures to the SDK's exceptions: the server's reason metadata
decides first, the status code is the fallback."""

from __future__ import annotations

import builtins
import datetime
from typing import Optional, Sequence, Tuple

import grpc
import pytest

import agentfense
from agentfense.exceptions import (CodebaseNotFoundError, CommandExecutionError,
                                   CommandTimeoutError, ConnectionError, FileChangedError,
                                   FileNotFoundError, InvalidConfigurationError,
                                   InvalidPathError, NotFoundError, PermissionDeniedError,
                                   QuotaExceededError,
                                   RuntimeUnavailableError, SandboxError, SandboxNotFoundError,
                                   SandboxNotRunningError, SessionClosedError,
                                   SessionNotFoundError, ReviewOutdatedError,
                                   WriteLayerBusyError,
                                   from_rpc_error)


class FakeRpcError(grpc.RpcError):
    """Shaped like the errors grpc raises (grpc.Call's accessors)."""

    def __init__(self, code: grpc.StatusCode, details: str,
                 metadata: Optional[Sequence[Tuple[str, object]]] = None) -> None:
        super().__init__(details)
        self._code, self._details, self._metadata = code, details, metadata or ()

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Sequence[Tuple[str, object]]:
        return self._metadata


REASONS = {
    "CODEBASE_NOT_FOUND": (grpc.StatusCode.NOT_FOUND, CodebaseNotFoundError),
    "SANDBOX_NOT_FOUND": (grpc.StatusCode.NOT_FOUND, SandboxNotFoundError),
    "SESSION_NOT_FOUND": (grpc.StatusCode.NOT_FOUND, SessionNotFoundError),
    "FILE_NOT_FOUND": (grpc.StatusCode.NOT_FOUND, FileNotFoundError),
    "SANDBOX_NOT_RUNNING": (grpc.StatusCode.FAILED_PRECONDITION, SandboxNotRunningError),
    "SESSION_CLOSED": (grpc.StatusCode.FAILED_PRECONDITION, SessionClosedError),
    "INVALID_RULE": (grpc.StatusCode.INVALID_ARGUMENT, InvalidConfigurationError),
    "INVALID_PATH": (grpc.StatusCode.INVALID_ARGUMENT, InvalidPathError),
    "COMMAND_TIMEOUT": (grpc.StatusCode.DEADLINE_EXCEEDED, CommandTimeoutError),
    "PERMISSION_DENIED": (grpc.StatusCode.PERMISSION_DENIED, PermissionDeniedError),
    "QUOTA_EXCEEDED": (grpc.StatusCode.RESOURCE_EXHAUSTED, QuotaExceededError),
    "RUNTIME_UNAVAILABLE": (grpc.StatusCode.FAILED_PRECONDITION, RuntimeUnavailableError),
    "WRITE_LAYER_BUSY": (grpc.StatusCode.FAILED_PRECONDITION, WriteLayerBusyError),
    "REVIEW_OUTDATED": (grpc.StatusCode.ABORTED, ReviewOutdatedError),
}


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_reason_decides_the_class(reason: str) -> None:
    code, cls = REASONS[reason]
    error = from_rpc_error(FakeRpcError(code, "the message", [("agentfense-reason", reason)]))
    assert type(error) is cls
    assert error.code == code and error.reason == reason and error.details == "the message"
    assert isinstance(error, SandboxError)


def test_reason_may_arrive_as_bytes_among_other_metadata() -> None:
    metadata = [("x-other", "1"), ("agentfense-reason", b"SANDBOX_NOT_FOUND")]
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.NOT_FOUND, "no sandbox", metadata))
    assert type(error) is SandboxNotFoundError


@pytest.mark.parametrize("code,cls", [
    (grpc.StatusCode.NOT_FOUND, NotFoundError),
    (grpc.StatusCode.INVALID_ARGUMENT, InvalidConfigurationError),
    (grpc.StatusCode.PERMISSION_DENIED, PermissionDeniedError),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, QuotaExceededError),
    (grpc.StatusCode.INTERNAL, SandboxError),
    (grpc.StatusCode.DEADLINE_EXCEEDED, SandboxError),  # not an exec call
])
def test_status_code_is_the_fallback(code: grpc.StatusCode, cls: type) -> None:
    assert type(from_rpc_error(FakeRpcError(code, "x"))) is cls


def test_unavailable_is_a_connection_error_naming_the_endpoint() -> None:
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused"),
                           endpoint="127.0.0.1:1")
    assert isinstance(error, ConnectionError) and isinstance(error, builtins.ConnectionError)
    assert error.endpoint == "127.0.0.1:1" and "127.0.0.1:1" in str(error)


def test_timeout_carries_command_and_timeout() -> None:
    raw = FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "killed after 1s",
                       [("agentfense-reason", "COMMAND_TIMEOUT")])
    error = from_rpc_error(raw, command="sleep 10", timeout=datetime.timedelta(seconds=1))
    assert isinstance(error, CommandTimeoutError) and isinstance(error, TimeoutError)
    assert error.command == "sleep 10" and error.timeout == 1.0
    assert "sleep 10" in str(error) and "1s" in str(error)


def test_timeout_carries_the_output_the_server_attached() -> None:
    from agentfense._proto import sandbox_pb2

    partial = sandbox_pb2.ExecResult(stdout="half", stderr="warn\n").SerializeToString()
    raw = FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "killed",
                       [("agentfense-reason", "COMMAND_TIMEOUT"),
                        ("agentfense-exec-result-bin", partial)])
    error = from_rpc_error(raw, command="make", timeout=datetime.timedelta(seconds=2))
    assert isinstance(error, CommandTimeoutError)
    assert error.stdout == "half" and error.stderr == "warn\n"
    bare = from_rpc_error(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "killed",
                                       [("agentfense-reason", "COMMAND_TIMEOUT")]))
    assert isinstance(bare, CommandTimeoutError) and bare.stdout == bare.stderr == ""


def test_permission_denied_carries_the_path_of_the_call() -> None:
    from agentfense._effects import ErrorContext

    raw = FakeRpcError(grpc.StatusCode.PERMISSION_DENIED, "not allowed",
                       [("agentfense-reason", "PERMISSION_DENIED")])
    error = from_rpc_error(raw, context=ErrorContext(path="/main.py"))
    assert isinstance(error, PermissionDeniedError) and error.path == "/main.py"
    assert from_rpc_error(raw).path is None  # type: ignore[attr-defined]


def test_policy_warnings_of_a_reply_become_python_warnings() -> None:
    from types import SimpleNamespace

    from agentfense import PolicyWarning
    from agentfense._convert import warn_about

    with pytest.warns(PolicyWarning, match="rule 7"):
        warn_about(SimpleNamespace(warnings=["/src/.env is readable: give rule 7 priority >= 1"]))


def test_client_side_deadline_on_an_exec_is_a_command_timeout() -> None:
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"),
                           command="sleep 99", timeout=None)
    assert isinstance(error, CommandTimeoutError) and error.timeout is None


def test_command_execution_error_keeps_the_outcome() -> None:
    error = CommandExecutionError("make", 2, "partial", "warning\nerror: boom\n")
    assert error.exit_code == 2 and error.stderr.endswith("boom\n") and error.stdout == "partial"
    assert "exited with 2: error: boom" in str(error)


def test_command_execution_error_escapes_and_caps_the_quoted_stderr() -> None:
    raw = "ok\nfailed \x1b]52;c;eA==\x07\x9b2J\u202e\x7f é\n"
    error = CommandExecutionError("make", 1, "", raw)
    assert str(error).endswith(": failed \\x1b]52;c;eA==\\x07\\x9b2J\\u202e\\x7f é")
    assert error.stderr == raw
    assert len(str(CommandExecutionError("make", 1, "", "x" * 100_000))) < 1000


def test_policy_warnings_are_escaped() -> None:
    from types import SimpleNamespace

    from agentfense import PolicyWarning
    from agentfense._convert import warn_about

    with pytest.warns(PolicyWarning) as caught:
        warn_about(SimpleNamespace(warnings=["/a\x1b]0;t\x07\r is readable"]))
    assert str(caught[0].message) == "/a\\x1b]0;t\\x07\\x0d is readable"


def test_builtin_bases_let_generic_handlers_work() -> None:
    assert issubclass(FileNotFoundError, builtins.FileNotFoundError)
    assert issubclass(PermissionDeniedError, PermissionError)
    assert issubclass(InvalidConfigurationError, ValueError)
    assert issubclass(FileChangedError, OSError)


def test_every_class_is_exported() -> None:
    for name in ["SandboxError", "SandboxNotFoundError", "SandboxNotRunningError",
                 "CodebaseNotFoundError", "CommandTimeoutError", "CommandExecutionError",
                 "PermissionDeniedError", "SessionClosedError", "InvalidConfigurationError",
                 "ConnectionError", "SessionNotFoundError", "FileNotFoundError",
                 "FileChangedError"]:
        assert issubclass(getattr(agentfense, name), SandboxError)
