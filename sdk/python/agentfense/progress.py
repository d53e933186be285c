"""Progress of an upload (Sandbox.from_local, SandboxClient.upload_directory and
upload_archive).

A callback gets an UploadProgress for every chunk handed to the connection (about
1 MiB for directories; the caller's chunks for an archive), the last one with ``done``
true. Callbacks written for the first version of the SDK, ``callback(bytes_sent,
bytes_total)``, keep working.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Callable, Optional, TextIO, Union, cast


@dataclass(frozen=True)
class UploadProgress:
    """How far an upload is. Files count regular files and symlinks (directories are
    sent too, but are not files); a file is done once its last byte is sent. An archive
    streamed from the caller's chunks counts no files (0 of 0), and when its size was
    not given, ``total_known`` is false (``bytes_total`` 0) until the last report,
    which gives the size sent."""

    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    total_known: bool = True

    @property
    def done(self) -> bool:
        return self.total_known and self.bytes_done >= self.bytes_total

    @property
    def fraction(self) -> float:
        if not self.total_known:
            return 0.0
        return min(1.0, self.bytes_done / self.bytes_total) if self.bytes_total else 1.0


ProgressCallback = Callable[[UploadProgress], None]
# ``progress=`` accepts: None (a bar for large uploads on a terminal), True (always a
# bar), False (nothing), or a callback.
ProgressOption = Union[bool, ProgressCallback, Callable[[int, int], None], None]

# Uploads at least this large get a progress bar by default when stderr is a terminal.
PROGRESS_THRESHOLD = 50 * 1000 * 1000


class ProgressBar:
    """A one-line progress bar on stderr."""

    def __init__(self, label: str = "uploading", stream: Optional[TextIO] = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr

    def __call__(self, progress: UploadProgress) -> None:
        end = "\n" if progress.done else ""
        if progress.total_known:
            filled = int(progress.fraction * 30)
            line = (f"{self.label} [{'#' * filled}{'.' * (30 - filled)}] "
                    f"{progress.bytes_done / 1e6:.1f}/{progress.bytes_total / 1e6:.1f} MB")
        else:  # a stream of unknown size: no bar, only what went out
            line = f"{self.label} {progress.bytes_done / 1e6:.1f} MB"
        if progress.files_total:
            line += f", {progress.files_done}/{progress.files_total} files"
        self.stream.write(f"\r{line}{end}")
        self.stream.flush()


def _takes_two_arguments(callback: Callable[..., None]) -> bool:
    """True for the first version's ``callback(sent, total)``: it cannot be called
    with one argument but can with two."""
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # no signature (some builtins): the current style
        return False
    try:
        signature.bind(None)
        return False
    except TypeError:
        pass
    try:
        signature.bind(None, None)
        return True
    except TypeError:
        return False


def progress_reporter(option: ProgressOption, bytes_total: int) -> Optional[ProgressCallback]:
    """The callback to report to for ``progress=option``, or None for no reports.
    ``bytes_total`` 0 for a stream of unknown size: no bar unless asked for."""
    if callable(option):
        if _takes_two_arguments(option):
            legacy = cast(Callable[[int, int], None], option)
            return lambda progress: legacy(progress.bytes_done, progress.bytes_total)
        return cast(ProgressCallback, option)
    if option is True or (option is None and bytes_total >= PROGRESS_THRESHOLD
                          and sys.stderr.isatty()):
        return ProgressBar()
    return None
