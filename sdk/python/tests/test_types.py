"""Value types: rule parsing and validation, ExecResult's derived properties, and the
protobuf conversions both clients share."""

from __future__ import annotations

import datetime

import pytest

from agentfense import (ExecResult, InvalidConfigurationError, PatternType, Permission,
                        PermissionRule, ResourceLimits, RuntimeType)
from agentfense import _convert as convert
from agentfense._proto import common_pb2, sandbox_pb2


def result(stdout: str = "", stderr: str = "", exit_code: int = 0) -> ExecResult:
    return ExecResult(stdout, stderr, exit_code, datetime.timedelta(seconds=1.5), "cmd")


def test_exec_result_properties() -> None:
    assert result().success and not result(exit_code=2).success
    assert result("out\n", "err\n").output == "out\nerr\n"
    assert result("out", "err").output == "out\nerr"
    assert result("", "err").output == "err"
    assert result().duration.total_seconds() == 1.5 and result().command == "cmd"


@pytest.mark.parametrize("spelling", ["read", "READ", "PERMISSION_READ", Permission.READ])
def test_permission_spellings(spelling: object) -> None:
    assert PermissionRule("/a", spelling).permission is Permission.READ  # type: ignore[arg-type]


@pytest.mark.parametrize("bad,message", [
    ({"pattern": "/a", "permission": "rwx"}, "unknown permission 'rwx'"),
    ({"pattern": "", "permission": "read"}, "pattern must be a non-empty string"),
    ({"pattern": 7}, "pattern must be a non-empty string"),
    ({"permission": "read"}, "missing 'pattern'"),
    ({"pattern": "/a", "perm": "read"}, "unknown keys \\['perm'\\]"),
    ({"pattern": "/a", "priority": "high"}, "priority must be an integer"),
    ({"pattern": "/a", "priority": 2**40}, "does not fit in int32"),
    ({"pattern": "/a", "type": "regex"}, "unknown pattern type 'regex'"),
    ({"pattern": "/a"}, "rule '/a': missing 'permission'"),
    ({"pattern": "/a", "permission": None}, "missing 'permission'"),
])
def test_bad_rules_are_rejected_naming_the_problem(bad: dict, message: str) -> None:
    with pytest.raises(InvalidConfigurationError, match=message):
        PermissionRule.from_value(bad)


def test_rule_round_trips_through_protobuf() -> None:
    rule = PermissionRule("/docs/", "write", priority=7, type="directory")
    message = convert.rule_pb(rule)
    assert message.permission == common_pb2.PERMISSION_WRITE
    assert message.type == common_pb2.PATTERN_TYPE_DIRECTORY and message.priority == 7
    assert convert.rule_from_pb(message) == rule
    assert convert.rule_pb({"pattern": "a", "permission": "read"}).type == common_pb2.PATTERN_TYPE_GLOB
    assert rule.to_dict() == {"pattern": "/docs/", "permission": "write", "priority": 7,
                              "type": "directory"}
    assert PatternType.parse("PATTERN_TYPE_FILE") is PatternType.FILE


def test_exec_request_and_deadline() -> None:
    request = convert.exec_request("sb", "ls", env={"A": "1"}, workdir="src", timeout=2.5)
    assert request.timeout.seconds == 2 and request.timeout.nanos == 500_000_000
    assert dict(request.env) == {"A": "1"} and request.workdir == "src"
    assert not convert.exec_request("sb", "ls").HasField("timeout")
    assert convert.rpc_deadline(None) is None
    assert convert.rpc_deadline(10) == 10 + convert.DEADLINE_GRACE_SECONDS


def test_exec_output_conversion() -> None:
    chunk = convert.exec_chunk_from_pb(sandbox_pb2.ExecOutput(
        type=sandbox_pb2.ExecOutput.OUTPUT_TYPE_STDERR, data=b"oops"))
    assert chunk.kind == "stderr" and chunk.text == "oops" and not chunk.is_exit
    exit_message = sandbox_pb2.ExecOutput(type=sandbox_pb2.ExecOutput.OUTPUT_TYPE_EXIT,
                                          exit_code=3)
    exit_message.duration.FromTimedelta(datetime.timedelta(milliseconds=20))
    exit_chunk = convert.exec_chunk_from_pb(exit_message)
    assert exit_chunk.is_exit and exit_chunk.exit_code == 3
    assert exit_chunk.duration == datetime.timedelta(milliseconds=20)


def test_sandbox_conversion() -> None:
    message = sandbox_pb2.Sandbox(id="s", codebase_id="c", status=common_pb2.SANDBOX_STATUS_RUNNING,
                                  runtime=common_pb2.RUNTIME_TYPE_BWRAP,
                                  resources=common_pb2.ResourceLimits(memory_bytes=1 << 20),
                                  labels={"k": "v"},
                                  permissions=[convert.rule_pb({"pattern": "**/*", "permission": "read"})])
    message.created_at.FromSeconds(1_700_000_000)
    info = convert.sandbox_from_pb(message)
    assert info.status.value == "running" and info.runtime is RuntimeType.BWRAP
    assert info.resources == ResourceLimits(memory_bytes=1 << 20)
    assert info.labels == {"k": "v"} and info.permissions == [PermissionRule("**/*", "read")]
    assert info.created_at is not None and info.created_at.year == 2023
    assert info.started_at is None
    limits = convert.resources_pb(ResourceLimits(pids_limit=5))
    assert limits is not None and limits.pids_limit == 5
    assert limits.disk_bytes == 0 and limits.disk_inodes == 0  # the server's default


def test_disk_limits_round_trip() -> None:
    limits = convert.resources_pb(ResourceLimits(disk_bytes=64 << 20, disk_inodes=5000))
    assert limits is not None and (limits.disk_bytes, limits.disk_inodes) == (64 << 20, 5000)
    info = convert.sandbox_from_pb(sandbox_pb2.Sandbox(id="s", resources=limits))
    assert info.resources == ResourceLimits(disk_bytes=64 << 20, disk_inodes=5000)
    assert convert.runtime_pb(None) == common_pb2.RUNTIME_TYPE_UNSPECIFIED
