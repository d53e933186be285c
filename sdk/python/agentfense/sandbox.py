"""Sandbox: the high-level, blocking handle users write against.

    with Sandbox.from_local("./repo") as sandbox:        # preset agent-safe by default
        print(sandbox.run("ls -a").stdout)

A Sandbox remembers what it created: leaving the ``with`` block (normally, on an
exception or on Ctrl-C) destroys the sandbox it created and deletes the codebase it
uploaded, and closes its connection. A sandbox attached with ``connect`` is left as
it is unless ``destroy_on_exit=True``. Cleaning up what is already gone is not an
error.

How a sandbox is built and released is written once for this class and AsyncSandbox
(_flows.py); this file runs it with the blocking client.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _convert as convert
from . import _flows as flows
from ._connection import PemSource
from ._handle import SandboxHandle
from ._lifecycle import check_result, interrupts_deferred
from .client import SandboxClient
from .exceptions import SandboxError
from .progress import ProgressOption
from .session import Session
from .types import (AuditEvent, ChangeList, FileList, AuditSince, CommitResult, ExecChunk, ExecResult, FileChange,
                    FileInfo, ResourceLimits, Review,
                    RuleLike, RuntimeType, SandboxInfo, SyncMode)

DEFAULT_PRESET = flows.DEFAULT_PRESET


class Sandbox(SandboxHandle[SandboxClient]):
    """A sandbox on an AgentFense server. Build one with from_local, from_codebase or
    connect rather than directly."""

    # ---- construction ----

    @classmethod
    def from_local(cls, path: Union[str, "os.PathLike[str]"], *, preset: Optional[str] = None,
                   permissions: Optional[Sequence[RuleLike]] = None,
                   runtime: Optional[RuntimeType] = None, image: str = "",
                   resources: Optional[ResourceLimits] = None,
                   endpoint: Optional[str] = None,
                   api_key: Optional[str] = None, tls: Optional[bool] = None,
                   ca_cert: Optional[PemSource] = None,
                   ignore_patterns: Optional[Sequence[str]] = None,
                   labels: Optional[Mapping[str, str]] = None, auto_start: bool = True,
                   expires_in: Optional[convert.Seconds] = None,
                   sync_mode: Optional[SyncMode] = None, import_mode: str = "auto",
                   progress: ProgressOption = None,
                   client: Optional[SandboxClient] = None) -> "Sandbox":
        """Create a codebase from a local directory and a sandbox over it.

        The directory is uploaded as one tar stream honouring .gitignore and
        .sandboxignore (plus ``ignore_patterns``, gitignore syntax), keeping exec bits,
        symlinks and empty directories; ``progress`` as in
        SandboxClient.upload_directory. ``import_mode="auto"`` first asks a server on
        this machine to serve the directory in place (ImportDirectory; only allowed
        under its storage.import_roots) and uploads if it refuses. Imported directories
        are served as they are (ignore files do not apply) and the sandbox's committed
        writes land in them. ``"always"`` requires import, ``"never"`` always uploads.
        Rules: the ``preset``'s, then ``permissions``; with neither, the preset
        "agent-safe". ``api_key``, ``tls`` and ``ca_cert`` reach an authenticated
        server as for SandboxClient (else $AGENTFENSE_API_KEY, $AGENTFENSE_CA_CERT)."""
        root = flows.local_root(path, import_mode)
        new = flows.NewSandbox.make(preset, permissions, auto_start, runtime, image, resources,
                                    labels, expires_in, sync_mode)
        with _client_for(client, endpoint, api_key, tls, ca_cert) as (used, owns_client):
            op = flows.sandbox_from_local(root, new, used.endpoint, ignore_patterns, import_mode,
                                          progress)
            info = used._run(op)
            return cls(used, info, owns_sandbox=True, owned_codebase=info.codebase_id,
                       owns_client=owns_client)

    @classmethod
    def from_codebase(cls, codebase_id: str, *, preset: Optional[str] = None,
                      permissions: Optional[Sequence[RuleLike]] = None,
                      runtime: Optional[RuntimeType] = None, image: str = "",
                      resources: Optional[ResourceLimits] = None,
                      endpoint: Optional[str] = None,
                      api_key: Optional[str] = None, tls: Optional[bool] = None,
                      ca_cert: Optional[PemSource] = None,
                      labels: Optional[Mapping[str, str]] = None, auto_start: bool = True,
                      expires_in: Optional[convert.Seconds] = None,
                      sync_mode: Optional[SyncMode] = None,
                      client: Optional[SandboxClient] = None) -> "Sandbox":
        """Create a sandbox over an existing codebase (which is left in place on exit).
        Rules as for from_local."""
        new = flows.NewSandbox.make(preset, permissions, auto_start, runtime, image, resources,
                                    labels, expires_in, sync_mode)
        with _client_for(client, endpoint, api_key, tls, ca_cert) as (used, owns_client):
            info = used._run(flows.started_sandbox(codebase_id, new, owned_codebase=None))
            return cls(used, info, owns_sandbox=True, owns_client=owns_client)

    @classmethod
    def connect(cls, sandbox_id: str, *, endpoint: Optional[str] = None,
                api_key: Optional[str] = None, tls: Optional[bool] = None,
                ca_cert: Optional[PemSource] = None,
                destroy_on_exit: bool = False,
                client: Optional[SandboxClient] = None) -> "Sandbox":
        """Attach to an existing sandbox (SandboxNotFoundError if there is none)."""
        with _client_for(client, endpoint, api_key, tls, ca_cert) as (used, owns_client):
            return cls(used, used.get_sandbox(sandbox_id), owns_sandbox=destroy_on_exit,
                       owns_client=owns_client)

    # ---- state ----

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
        """Destroy the sandbox now (its codebase too, if this handle uploaded it).
        Destroying a sandbox that is already gone is not an error."""
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

    def audit(self, *, since: AuditSince = None, kind: str = "", outcome: str = "",
              path: str = "", op: str = "", follow: bool = False) -> Iterator[AuditEvent]:
        """Yield the sandbox's audit trail (docs/audit.md) as AuditEvent, oldest first:
        every file access its commands made and the server's security events. Filters:
        ``since`` (datetime or RFC 3339 UTC text; events at or after it), ``kind``
        ("file", "security", "audit"), ``outcome`` ("allowed", "denied"), ``path`` (that
        path or anything under it), ``op``. With ``follow=True`` it keeps yielding new
        events as they happen until you stop iterating (break, or close the iterator).
        The trail stays readable after the sandbox is destroyed (use
        ``SandboxClient.audit_events(id)`` then)."""
        return self.client.audit_events(self.id, since=since, kind=kind, outcome=outcome,
                                        path=path, op=op, follow=follow)

    def audit_summary(self) -> Dict[str, Any]:
        """The reviewer's summary of the trail: ``files_read``, ``files_written``,
        ``denied`` (each a list of {path, ops, count}), ``commands``, ``events``,
        ``first``, ``last``, ``dropped``."""
        return self.client.audit_summary(self.id)

    def session(self, shell: str = "", env: Optional[Mapping[str, str]] = None) -> Session:
        """Open a stateful shell session (default /bin/bash); use as a context manager."""
        info = self.client.create_session(self.id, shell, env)
        return self._opened(Session(self.client, info))

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

    def list_files(self, path: str = "/", recursive: bool = False) -> FileList:
        return self.client.list_sandbox_files(self.id, path, recursive)

    # ---- change review ----

    def list_changes(self) -> ChangeList:
        return self.client.list_changes(self.id)

    def diff(self, paths: Union[str, Iterable[str]] = ()) -> str:
        return self.client.diff_changes(self.id, paths)

    def review(self, paths: Union[str, Iterable[str]] = ()) -> Review:
        """The diff of the changes at ``paths`` (all when empty) and a token that commits
        exactly those: ``commit(paths, review_token=review.token)`` raises
        ReviewOutdatedError, committing nothing, if a process in the sandbox changed them
        since."""
        return self.client.review_changes(self.id, paths)

    def commit(self, paths: Union[str, Iterable[str]] = (), *,
               review_token: Optional[str] = None) -> CommitResult:
        return self.client.commit_changes(self.id, paths, review_token)

    def discard(self) -> None:
        self.client.discard_changes(self.id)

    # ---- cleanup ----

    def close(self) -> None:
        """Release what this handle owns: destroy the sandbox it created, delete the
        codebase it uploaded, close its connection. Idempotent; what is already gone
        counts as released."""
        owned = self._claim_release()
        if owned is None:
            return
        try:
            error = self.client._run(flows.release(*owned))
        finally:
            if self._owns_client:
                self.client.close()
        if error is not None:
            raise error

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        with interrupts_deferred():
            try:
                self.close()
            except SandboxError:
                if exc_type is None:
                    raise  # otherwise the original error matters more


@contextlib.contextmanager
def _client_for(client: Optional[SandboxClient], endpoint: Optional[str],
                api_key: Optional[str], tls: Optional[bool],
                ca_cert: Optional[PemSource]) -> Iterator[Tuple[SandboxClient, bool]]:
    """The caller's client, or a new one for ``endpoint`` (with ``api_key``, ``tls`` and
    ``ca_cert`` as SandboxClient takes them) that the new handle will own, closed again
    if building the handle fails."""
    if client is not None:
        yield client, False
        return
    created = SandboxClient(endpoint, api_key=api_key, tls=tls, ca_cert=ca_cert)
    try:
        yield created, True
    except BaseException:
        with interrupts_deferred():
            created.close()
        raise
