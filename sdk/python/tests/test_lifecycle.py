"""Endpoint resolution, the import-or-upload decision, and Ctrl-C deferral."""

from __future__ import annotations

import asyncio
import os
import signal

import grpc
import pytest

from agentfense import SandboxClient, SandboxError
from agentfense._lifecycle import (interrupts_deferred, is_loopback_endpoint,
                                   should_fall_back_to_upload)


@pytest.mark.parametrize("endpoint,local", [
    ("localhost:9000", True), ("127.0.0.1:1", True), ("[::1]:9000", True),
    ("127.0.0.53:9000", True), ("unix:/run/af.sock", True), ("10.0.0.5:9000", False),
    ("sandbox.example.com:443", False),
])
def test_loopback_detection(endpoint: str, local: bool) -> None:
    assert is_loopback_endpoint(endpoint) is local


@pytest.mark.parametrize("code,reason,fallback", [
    (grpc.StatusCode.FAILED_PRECONDITION, "", True),  # import disabled
    (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED", True),  # outside import_roots
    (grpc.StatusCode.UNIMPLEMENTED, "", True),  # older server
    (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PATH", True),  # server cannot see the path
    (grpc.StatusCode.INVALID_ARGUMENT, "", False),
    (grpc.StatusCode.UNAVAILABLE, "", False),  # server down: report it, do not retry
])
def test_import_fallback_decision(code: grpc.StatusCode, reason: str, fallback: bool) -> None:
    assert should_fall_back_to_upload(SandboxError("x", code=code, reason=reason)) is fallback


def test_endpoint_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFENSE_ENDPOINT", "127.0.0.1:7777")
    with SandboxClient() as client:
        assert client.endpoint == "127.0.0.1:7777"
    with SandboxClient("127.0.0.1:1") as client:
        assert client.endpoint == "127.0.0.1:1"
    monkeypatch.delenv("AGENTFENSE_ENDPOINT")
    with SandboxClient() as client:
        assert client.endpoint == "localhost:9000"


def test_ctrl_c_during_cleanup_is_delivered_after_it() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(True)  # still reached: the interrupt waited
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_interrupts_cleanup_at_once() -> None:
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            reached.append(True)
    assert reached == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_overlapping_deferrals_restore_the_original_handler() -> None:
    """Concurrent asyncio cleanups enter and leave out of order (A in, B in, A out)."""
    first, second = interrupts_deferred(), interrupts_deferred()
    first.__enter__()
    second.__enter__()
    os.kill(os.getpid(), signal.SIGINT)
    first.__exit__(None, None, None)  # B still cleaning up: the interrupt keeps waiting
    with pytest.raises(KeyboardInterrupt):
        second.__exit__(None, None, None)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_concurrent_async_cleanups_leave_ctrl_c_working() -> None:
    from agentfense.async_client import shielded as _shielded

    async def cleanup(delay: float) -> None:
        await asyncio.sleep(delay)

    async def scenario() -> None:
        # Finishing in the reverse order of starting: the non-nested case.
        await asyncio.gather(*(_shielded(cleanup(0.05 - i * 0.01)) for i in range(5)))
    asyncio.run(scenario())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_during_async_cleanup_cancels_the_main_task_after_it() -> None:
    from agentfense.async_client import shielded as _shielded

    finished = []

    async def cleanup() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(0.05)
        finished.append(True)

    async def scenario() -> None:
        await _shielded(cleanup())
        await asyncio.sleep(5)  # not reached: asyncio.run turns the Ctrl-C into this
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(scenario())
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
