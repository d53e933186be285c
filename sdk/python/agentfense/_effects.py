"""The vocabulary shared by the SDK's I/O-free core and its two drivers.

Every behaviour of the SDK (which request an API call sends, how its reply becomes an
SDK value, pagination, the import-or-upload decision, what is cleaned up when
something fails) is written once, in _calls.py and _flows.py, as a generator that
*yields* the I/O it needs as one of the effects below and receives the result back.
SandboxClient runs those generators with blocking gRPC, AsyncSandboxClient with
grpc.aio: each driver (``_run``) is the only place that knows how its flavour of I/O
is done, so the sync and async APIs cannot drift apart.

An error of an effect is thrown into the generator at its ``yield``, so the core
decides (try/except around the yield) what happens on failure, exactly as ordinary
code would.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import (Any, AsyncIterable, Callable, Generator, Iterable, Optional, Tuple, TypeVar,
                    Union)

T = TypeVar("T")


class _ClientDefault:
    """Marker type: "the client's rpc_timeout" (None already means no deadline)."""


DEFAULT = _ClientDefault()
Deadline = Union[float, None, _ClientDefault]


@dataclass(frozen=True)
class ErrorContext:
    """What the call was about, attached to the exception it may raise: the command
    and its timeout of an exec, the path of a file call."""

    command: Optional[str] = None
    timeout: Optional[datetime.timedelta] = None
    path: Optional[str] = None


@dataclass(frozen=True)
class Upload:
    """The request stream of a client-streaming call: ``head`` (the metadata message),
    then ``wrap(piece)`` for each piece of ``body``, each announced to
    ``on_piece(piece)`` (progress) as it is handed over: before, not after, since the
    server may answer as soon as it has the last piece, and the caller must have seen
    every report by then. The async driver pulls a plain iterable from a worker thread
    (it may read files) and accepts async iterables."""

    head: Any
    body: Union[Iterable[Any], AsyncIterable[Any]]
    wrap: Callable[[Any], Any]
    on_piece: Optional[Callable[[Any], None]] = None


class BodyFailure:
    """What the body of an Upload raised (a local file that changed while it was read,
    say), kept by the driver's request stream: gRPC swallows it and cancels the call, so
    the caller would see only "Exception iterating requests!", or under asyncio a
    CancelledError. The driver raises it once the call is over."""

    def __init__(self) -> None:
        self.error: Optional[Exception] = None

    def raise_if_any(self) -> None:
        if self.error is not None:
            # With its own cause, not the cancelled call: that is a consequence.
            raise self.error from self.error.__cause__


@dataclass(frozen=True)
class Rpc:
    """One unary or client-streaming call; the driver sends back the reply message."""

    service: str  # "sandbox" or "codebase"
    method: str  # the RPC's name in sandbox.v1
    request: Any  # a message, or an Upload
    deadline: Deadline = DEFAULT
    context: ErrorContext = field(default_factory=ErrorContext)


@dataclass(frozen=True)
class ServerStream:
    """A server-streaming call, consumed lazily by the caller: not yielded by the core
    (a generator cannot hand out a lazy stream) but built by it and iterated by the
    driver's ``_stream``, which applies ``parse`` to each message."""

    service: str
    method: str
    request: Any
    parse: Callable[[Any], Any]
    deadline: Deadline = DEFAULT
    context: ErrorContext = field(default_factory=ErrorContext)


@dataclass(frozen=True)
class Blocking:
    """Disk work (walking a tree): called directly by the sync driver, in a worker
    thread by the async one so that the event loop keeps serving other sandboxes."""

    function: Callable[..., Any]
    args: Tuple[Any, ...] = ()


@dataclass(frozen=True)
class Cleanup:
    """Run ``op`` as a cleanup step: to completion even if the caller is cancelled or
    presses Ctrl-C once meanwhile (the interrupt is delivered afterwards); "already
    gone" (NotFoundError) counts as done. The driver sends back the SandboxError the
    step failed with, or None: a cleanup never raises into the code it cleans up
    after."""

    op: "Op[Any]"


Effect = Union[Rpc, Blocking, Cleanup]
Op = Generator[Effect, Any, T]


class Stepper:
    """Runs a core generator for a driver: ``effect`` is what it asks for next; the
    driver performs it and hands back ``reply(result)`` or ``fail(error)`` (thrown
    into the generator at its yield) until ``finished``; then ``result`` is the
    generator's return value (its exception, if it raises, propagates from the call
    that resumed it)."""

    def __init__(self, op: "Op[Any]") -> None:
        self._op = op
        self.finished = False
        self.result: Any = None
        self.effect: Any = None
        self._resume(lambda: op.send(None))

    def reply(self, value: Any) -> None:
        self._resume(lambda: self._op.send(value))

    def fail(self, error: BaseException) -> None:
        self._resume(lambda: self._op.throw(error))

    def _resume(self, step: Callable[[], Any]) -> None:
        try:
            self.effect = step()
        except StopIteration as finished:
            self.finished, self.result, self.effect = True, finished.value, None
