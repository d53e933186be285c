"""The I/O-free core of Sandbox and AsyncSandbox: building a sandbox from a local
directory or a codebase and releasing what a handle owns, with the cleanup each step
needs when a later one fails (see _effects.py). Written once for both APIs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _calls as calls
from ._effects import Cleanup, Op
from ._lifecycle import IMPORT_MODES, is_loopback_endpoint, should_fall_back_to_upload
from .exceptions import InvalidConfigurationError, SandboxError
from .presets import resolve_rules
from .progress import ProgressOption
from ._convert import Seconds
from .types import (PermissionRule, ResourceLimits, RuleLike, RuntimeType, SandboxInfo,
                    SyncMode)

# What a sandbox gets when its creator names no rules at all: the documents' headline
# one-liner promises it (read everything, write /output and /tmp, hide secrets), and
# the CLI applies the same.
DEFAULT_PRESET = "agent-safe"


def sandbox_rules(preset: Optional[str],
                  permissions: Optional[Sequence[RuleLike]]) -> List[PermissionRule]:
    """The rules a high-level sandbox is created with: the preset's (DEFAULT_PRESET if
    neither a preset nor permissions are given), then ``permissions``. Validated here,
    before anything is created on the server."""
    if preset is None and not permissions:
        preset = DEFAULT_PRESET
    return resolve_rules(preset, permissions or ())


@dataclass(frozen=True)
class NewSandbox:
    """A sandbox from_local or from_codebase was asked for, checked before anything is
    created on the server: its rules, CreateSandbox's other settings, and whether to
    start it."""

    rules: List[PermissionRule]
    options: Dict[str, Any]
    auto_start: bool

    @classmethod
    def make(cls, preset: Optional[str], permissions: Optional[Sequence[RuleLike]],
             auto_start: bool, runtime: Optional[RuntimeType], image: str,
             resources: Optional[ResourceLimits], labels: Optional[Mapping[str, str]],
             expires_in: Optional[Seconds], sync_mode: Optional[SyncMode]) -> "NewSandbox":
        options = {"runtime": runtime, "image": image, "resources": resources,
                   "labels": labels, "expires_in": expires_in, "sync_mode": sync_mode}
        return cls(sandbox_rules(preset, permissions), options, auto_start)


def local_root(path: Union[str, "os.PathLike[str]"], import_mode: str) -> Path:
    if import_mode not in IMPORT_MODES:
        raise InvalidConfigurationError(f"import_mode must be one of {IMPORT_MODES}")
    root = Path(path).resolve()
    if not root.is_dir():
        raise InvalidConfigurationError(f"from_local: {path} is not a directory")
    return root


def codebase_from_local(root: Path, endpoint: str, ignore_patterns: Optional[Sequence[str]],
                        import_mode: str, progress: ProgressOption) -> Op[str]:
    """A codebase holding ``root``: imported in place when the server is on this
    machine and allows it (import_mode "auto"/"always"), else uploaded. Its id."""
    if import_mode == "always" or (import_mode == "auto" and is_loopback_endpoint(endpoint)):
        try:
            return (yield from calls.import_directory(str(root), root.name, "")).id
        except SandboxError as error:
            if import_mode == "always" or not should_fall_back_to_upload(error):
                raise
    codebase = yield from calls.create_codebase(root.name, "")
    try:
        yield from calls.upload_directory(codebase.id, root, ignore_patterns, progress)
    except GeneratorExit:
        raise
    except BaseException:
        yield Cleanup(calls.delete_codebase(codebase.id))
        raise
    return codebase.id


def started_sandbox(codebase_id: str, new: NewSandbox, *,
                    owned_codebase: Optional[str]) -> Op[SandboxInfo]:
    """CreateSandbox (then StartSandbox when asked). If either fails, or the caller is
    interrupted meanwhile, what was created is removed again: the sandbox, and
    ``owned_codebase`` (the codebase made for it)."""
    created: Optional[str] = None
    try:
        info = yield from calls.create_sandbox(codebase_id, new.rules, preset=None, **new.options)
        created = info.id
        if new.auto_start:
            info = yield from calls.start_sandbox(info.id)
        return info
    except GeneratorExit:
        raise
    except BaseException:
        yield from release(created, owned_codebase)
        raise


def sandbox_from_local(root: Path, new: NewSandbox, endpoint: str,
                       ignore_patterns: Optional[Sequence[str]], import_mode: str,
                       progress: ProgressOption) -> Op[SandboxInfo]:
    codebase_id = yield from codebase_from_local(root, endpoint, ignore_patterns, import_mode,
                                                 progress)
    return (yield from started_sandbox(codebase_id, new, owned_codebase=codebase_id))


def release(sandbox_id: Optional[str], codebase_id: Optional[str],
            session_ids: Sequence[str] = ()) -> Op[Optional[SandboxError]]:
    """Destroy the sandbox (which ends its sessions) or else close ``session_ids``,
    then delete the codebase; every step is attempted whatever the others did, and
    what is already gone counts as released. The first error, or None."""
    errors: List[Optional[SandboxError]] = []
    if not sandbox_id:
        for session_id in session_ids:
            errors.append((yield from close_session(session_id)))
    if sandbox_id:
        errors.append((yield Cleanup(calls.destroy_sandbox(sandbox_id))))
    if codebase_id:
        errors.append((yield Cleanup(calls.delete_codebase(codebase_id))))
    return next((error for error in errors if error is not None), None)


def close_session(session_id: str) -> Op[Optional[SandboxError]]:
    """DestroySession as a cleanup: a session already gone (closed, or its sandbox
    stopped or destroyed) counts as closed. The error, or None."""
    error: Optional[SandboxError] = yield Cleanup(calls.destroy_session(session_id))
    return error
