"""Sandbox: the high-level, blocking handle users write against.

    with Sandbox.from_local("./repo", preset="agent-safe") as sandbox:
        print(sandbox.run("ls -a").stdout)

A Sandbox remembers what it created: leaving the ``with`` block (normally, on an
exception or on Ctrl-C) destroys the sandbox it created and deletes the codebase it
uploaded, and closes its connection. A sandbox attached with ``connect`` is left as
it is unless ``destroy_on_exit=True``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from . import _convert as convert
from ._lifecycle import (IMPORT_MODES, check_result, interrupts_deferred, is_loopback_endpoint,
                         should_fall_back_to_upload)
from .archive import ProgressCallback, archive_size, choose_progress, collect_entries, tar_chunks, with_progress
from .client import SandboxClient
from .exceptions import InvalidConfigurationError, NotFoundError, SandboxError
from .session import Session
from .types import (CommitResult, ExecChunk, ExecResult, FileChange, FileInfo, ResourceLimits,
                    RuleLike, RuntimeType, SandboxInfo, SandboxStatus, SyncMode)

DEFAULT_PRESET = "view-only"  # least privilege when the caller names no rules at all


class Sandbox:
    """A sandbox on an AgentFense server. Build one with from_local, from_codebase or
    connect rather than directly."""

    def __init__(self, client: SandboxClient, info: SandboxInfo, *, owns_sandbox: bool,
                 owned_codebase: Optional[str] = None, owns_client: bool = True) -> None:
        self.client = client
        self.info = info
        self._owns_sandbox = owns_sandbox
        self._owned_codebase = owned_codebase
        self._owns_client = owns_client
        self._closed = False

    # ---- construction ----

    @classmethod
    def from_local(cls, path: Union[str, "os.PathLike[str]"], *, preset: Optional[str] = None,
                   permissions: Optional[Sequence[RuleLike]] = None,
                   runtime: Optional[RuntimeType] = None, image: str = "",
                   resources: Optional[ResourceLimits] = None,
                   endpoint: Optional[str] = None,
                   ignore_patterns: Sequence[str] = (),
                   labels: Optional[Mapping[str, str]] = None, auto_start: bool = True,
                   expires_in: Optional[convert.Seconds] = None,
                   sync_mode: Optional[SyncMode] = None, import_mode: str = "auto",
                   progress: Union[bool, ProgressCallback, None] = None,
                   client: Optional[SandboxClient] = None) -> "Sandbox":
        """Create a codebase from a local directory and a sandbox over it.

        The directory is uploaded as one tar stream honouring .gitignore and
        .sandboxignore (plus ``ignore_patterns``, gitignore syntax), keeping exec bits,
        symlinks and empty directories. ``import_mode="auto"`` first asks a server on
        this machine to serve the directory in place (ImportDirectory; only allowed
        under its storage.import_roots) and uploads if it refuses. Imported directories
        are served as they are (ignore files do not apply) and the sandbox's committed
        writes land in them. ``"always"`` requires import, ``"never"`` always uploads.
        Rules: the ``preset`` (default "view-only" if no permissions are given either)
        followed by ``permissions``."""
        if import_mode not in IMPORT_MODES:
            raise InvalidConfigurationError(f"import_mode must be one of {IMPORT_MODES}")
        root = Path(path).resolve()
        if not root.is_dir():
            raise InvalidConfigurationError(f"from_local: {path} is not a directory")
        rules = _rules(preset, permissions)  # validated before anything is created
        owns_client = client is None
        client = client or SandboxClient(endpoint)
        codebase_id: Optional[str] = None
        try:
            codebase_id = _create_codebase(client, root, ignore_patterns, import_mode, progress)
            return cls._create(client, codebase_id, rules, owned_codebase=codebase_id,
                               owns_client=owns_client, runtime=runtime, image=image,
                               resources=resources, labels=labels, auto_start=auto_start,
                               expires_in=expires_in, sync_mode=sync_mode)
        except BaseException:
            with interrupts_deferred():
                if codebase_id is not None:
                    _quietly(lambda: client.delete_codebase(codebase_id))
                if owns_client:
                    client.close()
            raise

    @classmethod
    def from_codebase(cls, codebase_id: str, *, preset: Optional[str] = None,
                      permissions: Optional[Sequence[RuleLike]] = None,
                      runtime: Optional[RuntimeType] = None, image: str = "",
                      resources: Optional[ResourceLimits] = None,
                      endpoint: Optional[str] = None,
                      labels: Optional[Mapping[str, str]] = None, auto_start: bool = True,
                      expires_in: Optional[convert.Seconds] = None,
                      sync_mode: Optional[SyncMode] = None,
                      client: Optional[SandboxClient] = None) -> "Sandbox":
        """Create a sandbox over an existing codebase (which is left in place on exit)."""
        rules = _rules(preset, permissions)
        owns_client = client is None
        client = client or SandboxClient(endpoint)
        try:
            return cls._create(client, codebase_id, rules, owned_codebase=None,
                               owns_client=owns_client, runtime=runtime, image=image,
                               resources=resources, labels=labels, auto_start=auto_start,
                               expires_in=expires_in, sync_mode=sync_mode)
        except BaseException:
            if owns_client:
                client.close()
            raise

    @classmethod
    def connect(cls, sandbox_id: str, *, endpoint: Optional[str] = None,
                destroy_on_exit: bool = False,
                client: Optional[SandboxClient] = None) -> "Sandbox":
        """Attach to an existing sandbox (SandboxNotFoundError if there is none)."""
        owns_client = client is None
        client = client or SandboxClient(endpoint)
        try:
            info = client.get_sandbox(sandbox_id)
        except BaseException:
            if owns_client:
                client.close()
            raise
        return cls(client, info, owns_sandbox=destroy_on_exit, owns_client=owns_client)

    @classmethod
    def _create(cls, client: SandboxClient, codebase_id: str, rules: List[RuleLike], *,
                owned_codebase: Optional[str], owns_client: bool, auto_start: bool,
                **options: object) -> "Sandbox":
        info = client.create_sandbox(codebase_id, rules, **options)  # type: ignore[arg-type]
        sandbox = cls(client, info, owns_sandbox=True, owned_codebase=owned_codebase,
                      owns_client=owns_client)
        if auto_start:
            try:
                sandbox.start()
            except BaseException:
                sandbox._owns_client = False  # the caller's except closes it
                sandbox._owned_codebase = None
                sandbox.close()
                raise
        return sandbox

    # ---- state ----

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def codebase_id(self) -> str:
        return self.info.codebase_id

    @property
    def status(self) -> SandboxStatus:
        """The status as of the last call that returned it (see refresh())."""
        return self.info.status

    def refresh(self) -> SandboxInfo:
        """Fetch the sandbox's current state from the server."""
        self.info = self.client.get_sandbox(self.id)
        return self.info

    def start(self) -> SandboxInfo:
        self.info = self.client.start_sandbox(self.id)
        return self.info

    def stop(self) -> SandboxInfo:
        self.info = self.client.stop_sandbox(self.id)
        return self.info

    def destroy(self) -> None:
        """Destroy the sandbox now (its codebase too, if this handle uploaded it)."""
        self._owns_sandbox = True
        self.close()

    # ---- commands ----

    def exec(self, command: str, *, stdin: Optional[str] = None,
             env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
             timeout: Optional[convert.Seconds] = None, raise_on_error: bool = False) -> ExecResult:
        """Run ``command`` (by /bin/sh -c, in /workspace unless ``workdir``) and wait.
        A non-zero exit is returned, or raised as CommandExecutionError when
        ``raise_on_error``; running past ``timeout`` raises CommandTimeoutError."""
        result = self.client.exec(self.id, command, stdin=stdin, env=env, workdir=workdir,
                                  timeout=timeout)
        return check_result(result, raise_on_error)

    def run(self, command: str, *, timeout: Optional[convert.Seconds] = None,
            env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
            raise_on_error: bool = False) -> ExecResult:
        """exec() without stdin: the common case."""
        return self.exec(command, env=env, workdir=workdir, timeout=timeout,
                         raise_on_error=raise_on_error)

    def exec_stream(self, command: str, *, stdin: Optional[str] = None,
                    env: Optional[Mapping[str, str]] = None, workdir: Optional[str] = None,
                    timeout: Optional[convert.Seconds] = None) -> Iterator[ExecChunk]:
        """Yield stdout/stderr chunks as they are produced, then one "exit" chunk with
        the exit code and duration."""
        return self.client.exec_stream(self.id, command, stdin=stdin, env=env,
                                       workdir=workdir, timeout=timeout)

    def session(self, shell: str = "", env: Optional[Mapping[str, str]] = None) -> Session:
        """Open a stateful shell session (default /bin/bash); use as a context manager."""
        return Session(self.client, self.client.create_session(self.id, shell, env))

    # ---- files as the agent sees them ----

    def read_bytes(self, path: str) -> bytes:
        return self.client.read_sandbox_file(self.id, path)

    def read_file(self, path: str, encoding: str = "utf-8") -> str:
        """Content of ``path`` through the rules: FileNotFoundError when hidden or
        absent, PermissionDeniedError for view-only files."""
        return self.read_bytes(path).decode(encoding)

    def write_file(self, path: str, content: Union[str, bytes]) -> FileInfo:
        """Write through the rules: PermissionDeniedError below write level."""
        data = content.encode() if isinstance(content, str) else content
        return self.client.write_sandbox_file(self.id, path, data)

    def list_files(self, path: str = "/", recursive: bool = False) -> List[FileInfo]:
        return self.client.list_sandbox_files(self.id, path, recursive)

    # ---- change review ----

    def list_changes(self) -> List[FileChange]:
        return self.client.list_changes(self.id)

    def diff(self, paths: Iterable[str] = ()) -> str:
        return self.client.diff_changes(self.id, paths)

    def commit(self, paths: Iterable[str] = ()) -> CommitResult:
        return self.client.commit_changes(self.id, paths)

    def discard(self) -> None:
        self.client.discard_changes(self.id)

    # ---- cleanup ----

    def close(self) -> None:
        """Release what this handle owns: destroy the sandbox it created, delete the
        codebase it uploaded, close its connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        errors: List[BaseException] = []
        if self._owns_sandbox:
            _quietly(lambda: self.client.destroy_sandbox(self.id), errors)
        if self._owned_codebase:
            codebase_id = self._owned_codebase
            _quietly(lambda: self.client.delete_codebase(codebase_id), errors)
        if self._owns_client:
            self.client.close()
        if errors:
            raise errors[0]

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        with interrupts_deferred():
            try:
                self.close()
            except SandboxError:
                if exc_type is None:
                    raise  # otherwise the original error matters more

    def __repr__(self) -> str:
        return f"Sandbox(id={self.id!r}, status={self.status.value})"


def _rules(preset: Optional[str], permissions: Optional[Sequence[RuleLike]]) -> List[RuleLike]:
    from .presets import resolve_rules

    if preset is None and not permissions:
        preset = DEFAULT_PRESET
    return list(resolve_rules(preset, permissions or ()))


def _quietly(action: Callable[[], None], errors: Optional[List[BaseException]] = None) -> None:
    """Run a cleanup step; "already gone" is success, other errors are collected."""
    try:
        action()
    except NotFoundError:
        pass
    except Exception as error:  # noqa: BLE001 (keep cleaning up; report afterwards)
        if errors is not None:
            errors.append(error)


def _create_codebase(client: SandboxClient, root: Path, ignore_patterns: Sequence[str],
                     import_mode: str, progress: Union[bool, ProgressCallback, None]) -> str:
    if import_mode == "always" or (import_mode == "auto" and is_loopback_endpoint(client.endpoint)):
        try:
            return client.import_directory(str(root), name=root.name).id
        except SandboxError as error:
            if import_mode == "always" or not should_fall_back_to_upload(error):
                raise
    codebase = client.create_codebase(root.name)
    try:
        entries = collect_entries(root, ignore_patterns)
        total = archive_size(entries)
        chunks = with_progress(tar_chunks(entries), total, choose_progress(progress, total))
        client.upload_archive(codebase.id, chunks)
    except BaseException:
        with interrupts_deferred():
            _quietly(lambda: client.delete_codebase(codebase.id))
        raise
    return codebase.id
