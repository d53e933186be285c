"""A small in-process stand-in for the AgentFense server, speaking the real sandbox.v1
protocol over a real loopback socket. It lets the SDK's plumbing (both clients, the
Sandbox lifecycle, cleanup, the error contract with its reason metadata) be tested
without the C++ server. It implements only what those tests need; the real server is
exercised by test_integration_*.py."""

from __future__ import annotations

import io
import itertools
import tarfile
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import grpc

from agentfense._proto import (codebase_pb2, codebase_pb2_grpc, common_pb2, sandbox_pb2,
                               sandbox_pb2_grpc)


@dataclass
class FakeCodebase:
    name: str
    members: Dict[str, tarfile.TarInfo] = field(default_factory=dict)
    contents: Dict[str, bytes] = field(default_factory=dict)
    imported_from: str = ""


class FakeState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.codebases: Dict[str, FakeCodebase] = {}
        self.sandboxes: Dict[str, sandbox_pb2.Sandbox] = {}
        self.sessions: Dict[str, str] = {}  # session id -> sandbox id
        self.allow_import = False
        self.fail_start = False
        self.answer_uploads_early = False  # reply once the first piece is in, as a server may
        self.calls: List[str] = []

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids)}"


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, reason: str, message: str):
    context.set_trailing_metadata((("agentfense-reason", reason),))
    context.abort(code, message)


class FakeCodebaseService(codebase_pb2_grpc.CodebaseServiceServicer):
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def _get(self, codebase_id: str, context: grpc.ServicerContext) -> FakeCodebase:
        found = self.state.codebases.get(codebase_id)
        if found is None:
            abort(context, grpc.StatusCode.NOT_FOUND, "CODEBASE_NOT_FOUND",
                  f"codebase {codebase_id} not found")
        return found  # type: ignore[return-value]

    def CreateCodebase(self, request, context):
        codebase_id = self.state.new_id("cb")
        self.state.codebases[codebase_id] = FakeCodebase(request.name)
        return codebase_pb2.Codebase(id=codebase_id, name=request.name)

    def GetCodebase(self, request, context):
        found = self._get(request.codebase_id, context)
        return codebase_pb2.Codebase(id=request.codebase_id, name=found.name,
                                     file_count=len(found.members))

    def DeleteCodebase(self, request, context):
        self._get(request.codebase_id, context)
        del self.state.codebases[request.codebase_id]
        return common_pb2.Empty()

    def UploadArchive(self, request_iterator, context):
        first = next(request_iterator)
        codebase = self._get(first.metadata.codebase_id, context)
        if self.state.answer_uploads_early:
            data = next(request_iterator).data
            return codebase_pb2.UploadArchiveResult(codebase_id=first.metadata.codebase_id,
                                                    files=1, bytes=len(data))
        data = b"".join(chunk.data for chunk in request_iterator)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar.getmembers():
                codebase.members[member.name] = member
                if member.isreg():
                    codebase.contents[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
        return codebase_pb2.UploadArchiveResult(codebase_id=first.metadata.codebase_id,
                                                files=len(codebase.members), bytes=len(data))

    def ImportDirectory(self, request, context):
        if not self.state.allow_import:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "import is not enabled")
        codebase_id = self.state.new_id("cb")
        self.state.codebases[codebase_id] = FakeCodebase(request.name, imported_from=request.path)
        return codebase_pb2.Codebase(id=codebase_id, name=request.name,
                                     imported_from=request.path)


class FakeSandboxService(sandbox_pb2_grpc.SandboxServiceServicer):
    def __init__(self, state: FakeState) -> None:
        self.state = state

    def _get(self, sandbox_id: str, context) -> sandbox_pb2.Sandbox:
        found = self.state.sandboxes.get(sandbox_id)
        if found is None:
            abort(context, grpc.StatusCode.NOT_FOUND, "SANDBOX_NOT_FOUND",
                  f"sandbox {sandbox_id} not found")
        return found  # type: ignore[return-value]

    def _running(self, sandbox_id: str, context) -> sandbox_pb2.Sandbox:
        found = self._get(sandbox_id, context)
        if found.status != common_pb2.SANDBOX_STATUS_RUNNING:
            abort(context, grpc.StatusCode.FAILED_PRECONDITION, "SANDBOX_NOT_RUNNING",
                  f"sandbox {sandbox_id} is not running")
        return found

    def CreateSandbox(self, request, context):
        if request.codebase_id not in self.state.codebases:
            abort(context, grpc.StatusCode.NOT_FOUND, "CODEBASE_NOT_FOUND", "no codebase")
        for rule in request.permissions:
            if rule.permission == common_pb2.PERMISSION_UNSPECIFIED or "[" in rule.pattern:
                abort(context, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_RULE",
                      f"invalid rule '{rule.pattern}'")
        sandbox = sandbox_pb2.Sandbox(id=self.state.new_id("sb"), codebase_id=request.codebase_id,
                                      permissions=request.permissions, labels=request.labels,
                                      status=common_pb2.SANDBOX_STATUS_PENDING,
                                      runtime=request.runtime, image=request.image)
        self.state.sandboxes[sandbox.id] = sandbox
        return sandbox

    def GetSandbox(self, request, context):
        return self._get(request.sandbox_id, context)

    def ListSandboxes(self, request, context):
        return sandbox_pb2.ListSandboxesResponse(sandboxes=list(self.state.sandboxes.values()))

    def StartSandbox(self, request, context):
        sandbox = self._get(request.sandbox_id, context)
        if self.state.fail_start:
            abort(context, grpc.StatusCode.FAILED_PRECONDITION, "RUNTIME_UNAVAILABLE",
                  "bwrap is not installed")
        sandbox.status = common_pb2.SANDBOX_STATUS_RUNNING
        return sandbox

    def StopSandbox(self, request, context):
        sandbox = self._get(request.sandbox_id, context)
        sandbox.status = common_pb2.SANDBOX_STATUS_STOPPED
        return sandbox

    def DestroySandbox(self, request, context):
        self._get(request.sandbox_id, context)
        del self.state.sandboxes[request.sandbox_id]
        return common_pb2.Empty()

    def _run(self, command: str, timeout: Optional[float], context) -> sandbox_pb2.ExecResult:
        """Commands: "echo X" prints X, "fail" exits 3, "sleep N" sleeps N seconds."""
        self.state.calls.append(command)
        if command.startswith("sleep "):
            seconds = float(command.split()[1])
            if timeout is not None and seconds > timeout:
                time.sleep(timeout)
                # What the command printed before it was killed rides along.
                partial = sandbox_pb2.ExecResult(stdout="went to sleep\n", stderr="zzz\n")
                context.set_trailing_metadata((
                    ("agentfense-reason", "COMMAND_TIMEOUT"),
                    ("agentfense-exec-result-bin", partial.SerializeToString())))
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                              f"command timed out after {timeout:g}s")
            time.sleep(seconds)
            return sandbox_pb2.ExecResult()
        if command == "fail":
            return sandbox_pb2.ExecResult(stderr="it failed\n", exit_code=3)
        return sandbox_pb2.ExecResult(stdout=command.partition(" ")[2] + "\n")

    @staticmethod
    def _timeout(message) -> Optional[float]:
        return message.timeout.ToTimedelta().total_seconds() if message.HasField("timeout") else None

    def Exec(self, request, context):
        self._running(request.sandbox_id, context)
        return self._run(request.command, self._timeout(request), context)

    def ExecStream(self, request, context):
        self._running(request.sandbox_id, context)
        result = self._run(request.command, self._timeout(request), context)
        kind = sandbox_pb2.ExecOutput
        yield kind(type=kind.OUTPUT_TYPE_STDOUT, data=result.stdout.encode())
        yield kind(type=kind.OUTPUT_TYPE_STDERR, data=b"progress\n")
        yield kind(type=kind.OUTPUT_TYPE_EXIT, exit_code=result.exit_code)

    def CreateSession(self, request, context):
        self._running(request.sandbox_id, context)
        session_id = self.state.new_id("ss")
        self.state.sessions[session_id] = request.sandbox_id
        return sandbox_pb2.Session(id=session_id, sandbox_id=request.sandbox_id,
                                   status=common_pb2.SESSION_STATUS_ACTIVE, shell="/bin/bash")

    def DestroySession(self, request, context):
        if self.state.sessions.pop(request.session_id, None) is None:
            abort(context, grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND", "no session")
        return common_pb2.Empty()

    def SessionExec(self, request, context):
        if request.session_id not in self.state.sessions:
            abort(context, grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND", "no session")
        return self._run(request.command, self._timeout(request), context)

    def ReadSandboxFile(self, request, context):
        sandbox = self._get(request.sandbox_id, context)
        codebase = self.state.codebases[sandbox.codebase_id]
        content = codebase.contents.get(request.path.lstrip("/"))
        if content is None:
            abort(context, grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND",
                  f"{request.path}: no such file")
        return sandbox_pb2.ReadSandboxFileResponse(content=content)


class FakeServer:
    """Serves on 127.0.0.1:<free port> until stop()."""

    def __init__(self) -> None:
        self.state = FakeState()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
        codebase_pb2_grpc.add_CodebaseServiceServicer_to_server(
            FakeCodebaseService(self.state), self.server)
        sandbox_pb2_grpc.add_SandboxServiceServicer_to_server(
            FakeSandboxService(self.state), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{self.port}"
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)
