"""Helpers shared by Sandbox and AsyncSandbox: how from_local decides between import
and upload, and cleanup that a second Ctrl-C cannot cut short."""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import threading
from typing import Any, Iterator

import grpc

from .exceptions import CommandExecutionError, SandboxError
from .types import ExecResult

IMPORT_MODES = ("auto", "always", "never")

# ImportDirectory refused for one of these → the server does not allow importing this
# directory (no import_roots, path outside them, older server), or does not see it
# (INVALID_PATH: it runs in another mount namespace or container): upload instead.
IMPORT_FALLBACK_CODES = {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED,
                         grpc.StatusCode.UNIMPLEMENTED}
IMPORT_FALLBACK_REASONS = {"INVALID_PATH"}


def is_loopback_endpoint(endpoint: str) -> bool:
    """True when the server runs on this machine, so a local path means the same thing
    to it (only then is in-place import attempted automatically)."""
    if endpoint.startswith("unix:"):
        return True
    host = endpoint.rsplit(":", 1)[0] if ":" in endpoint else endpoint
    host = host.strip("[]")
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def should_fall_back_to_upload(error: SandboxError) -> bool:
    return error.code in IMPORT_FALLBACK_CODES or error.reason in IMPORT_FALLBACK_REASONS


def check_result(result: ExecResult, raise_on_error: bool) -> ExecResult:
    if raise_on_error and result.exit_code != 0:
        raise CommandExecutionError(result.command, result.exit_code, result.stdout,
                                    result.stderr)
    return result


class _Deferral:
    """Process-wide state of interrupts_deferred. Deferrals overlap without nesting
    when asyncio tasks clean up concurrently (task A enters, task B enters, A leaves
    first), so the handler is installed by the first one in and restored by the last
    one out; saving and restoring per deferral would leave a stale handler behind,
    which would then swallow the user's next Ctrl-C."""

    depth = 0
    previous: Any = None
    received = 0


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold off one SIGINT while cleaning up, then deliver it: a user pressing Ctrl-C
    during cleanup must not leave a sandbox or codebase behind on the server. A second
    Ctrl-C interrupts at once (the way out of a cleanup stuck on an unresponsive
    server). Only the main thread can install signal handlers; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _Deferral.depth == 0:
        try:
            previous = signal.signal(signal.SIGINT, _note_interrupt)
        except ValueError:  # not the main interpreter
            yield
            return
        # None: a handler installed outside Python, which cannot be put back; the
        # default one is the closest match.
        _Deferral.previous = signal.default_int_handler if previous is None else previous
        _Deferral.received = 0
    _Deferral.depth += 1
    try:
        yield
    finally:
        _Deferral.depth -= 1
        if _Deferral.depth == 0:
            signal.signal(signal.SIGINT, _Deferral.previous)
            if _Deferral.received:
                _Deferral.received = 0
                # Re-deliver to whoever handled SIGINT before: KeyboardInterrupt under
                # the default handler, main-task cancellation under asyncio.run.
                signal.raise_signal(signal.SIGINT)


def _note_interrupt(signum: int, frame: object) -> None:
    if _Deferral.received:
        _Deferral.received = 0  # this one is delivered now, not again on the way out
        raise KeyboardInterrupt
    _Deferral.received += 1
