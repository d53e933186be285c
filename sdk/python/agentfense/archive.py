"""Turn a local directory into the tar stream UploadArchive takes (and count what an
archive the caller already has sends: StreamedArchive).

The tree is walked first (honouring ignore files) so the totals are known for
progress reporting (progress.py); the tar is then produced lazily, file by file, so memory stays
bounded by the chunk size however large the files are. Regular files keep their mode
bits (exec bits), symlinks are stored as links (never followed), every directory is an
entry (so empty ones survive). Sockets, FIFOs and devices are skipped.

Whoever can write in the directory may change it during the upload, which takes as
long as the upload does. So nothing is followed that was not walked: directories are
walked through open descriptors, each checked to be the directory listed, and each file
is opened without following a symlink and checked to be the very file listed (device
and inode) with the size its tar header announced. Otherwise the upload stops with a
FileChangedError: a symlink swapped in must not send what it points to (any file the
uploading user can read) under an innocent name.
"""

from __future__ import annotations

import bisect
import errno
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import (AsyncIterable, AsyncIterator, BinaryIO, Dict, Iterable, Iterator, List,
                    Optional, Sequence, Tuple, Union)

from .exceptions import FileChangedError, display_safe
from .ignore import IgnoreMatcher, parse_lines
from .progress import ProgressCallback, UploadProgress

IGNORE_FILES = (".gitignore", ".sandboxignore")  # later files override earlier ones
CHUNK_SIZE = 1 << 20  # well under gRPC's default 4 MiB message limit
BLOCK = tarfile.BLOCKSIZE
# What opening a listed entry without following symlinks says when it was replaced.
_REPLACED: Dict[int, str] = {
    errno.ENOENT: "it is gone",
    errno.ENOTDIR: "it, or a directory above it, was replaced",
    errno.ELOOP: "a symlink is in its place",
    errno.ENXIO: "a socket is in its place",
}


@dataclass(frozen=True)
class ArchiveEntry:
    path: str  # relative to the root, "/"-separated
    info: tarfile.TarInfo
    source: Optional[Path]  # file to copy the content from (regular files only)
    identity: Tuple[int, int]  # (st_dev, st_ino) when listed: what the source must still be

    @property
    def stream_size(self) -> int:
        """Bytes this entry takes in the tar: header(s) plus padded content."""
        padded = -(-self.info.size // BLOCK) * BLOCK if self.info.isreg() else 0
        return len(_header(self.info)) + padded


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


def _tarinfo(path: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    info.uid = info.gid = 0  # the server owns what it extracts; host ids mean nothing there
    info.uname = info.gname = ""
    return info


def _changed(path: Path, why: str) -> FileChangedError:
    # The name may be one a sandbox's commit created: escaped in the message only.
    return FileChangedError(f"{display_safe(str(path))} changed while it was uploaded: {why}; upload again, or "
                            "leave it out with an ignore pattern if it keeps changing",
                            path=str(path))


def _open_as_listed(shown: Path, target: Union[str, Path], identity: Tuple[int, int],
                    flags: int, dir_fd: Optional[int] = None) -> int:
    """``target`` opened without following a symlink there, and checked to be the entry
    the walk listed (``identity``: device and inode): else a FileChangedError naming
    ``shown``. A directory above it that was swapped for a symlink leads to another
    inode, so the check covers the whole path."""
    try:
        fd = os.open(target, flags | os.O_NOFOLLOW, dir_fd=dir_fd)
    except OSError as error:
        if error.errno not in _REPLACED:
            raise
        raise _changed(shown, _REPLACED[error.errno]) from error
    found = os.fstat(fd)
    if (found.st_dev, found.st_ino) != identity:
        os.close(fd)
        raise _changed(shown, "another file is in its place")
    return fd


def _read_ignore_file(dir_fd: int, name: str, base: str) -> IgnoreMatcher:
    try:
        # Non-blocking: a FIFO by that name must not stall the walk.
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in _REPLACED:  # no such file (a dangling symlink, a socket...)
            return IgnoreMatcher()
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return IgnoreMatcher()
        text = handle.read().decode(errors="replace")
    return IgnoreMatcher(parse_lines(text.splitlines(), base))


def collect_entries(root: Union[str, Path], ignore_patterns: Sequence[str] = (),
                    ignore_files: Sequence[str] = IGNORE_FILES) -> List[ArchiveEntry]:
    """Every non-ignored entry under ``root``, parents before children, sorted by name.
    ``ignore_patterns`` (gitignore syntax, relative to the root) override the files."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    user_rules = parse_lines(ignore_patterns)
    entries: List[ArchiveEntry] = []

    def walk(directory: int, relative: str, inherited: IgnoreMatcher) -> None:
        matcher = inherited
        for name in ignore_files:
            matcher = matcher.extended(_read_ignore_file(directory, name, relative).rules)
        effective = matcher.extended(user_rules)
        with os.scandir(directory) as iterator:
            children = sorted(iterator, key=lambda entry: entry.name)
        for child in children:
            path = f"{relative}/{child.name}" if relative else child.name
            st = child.stat(follow_symlinks=False)
            is_dir = stat.S_ISDIR(st.st_mode)
            if effective.is_ignored(path, is_dir):
                continue
            info = _tarinfo(path, st)
            identity = (st.st_dev, st.st_ino)
            if is_dir:
                info.type = tarfile.DIRTYPE
                entries.append(ArchiveEntry(path, info, None, identity))
                subdirectory = _open_as_listed(root / path, child.name, identity,
                                               os.O_RDONLY | os.O_DIRECTORY, dir_fd=directory)
                try:
                    walk(subdirectory, path, matcher)
                finally:
                    os.close(subdirectory)
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(child.name, dir_fd=directory)
                entries.append(ArchiveEntry(path, info, None, identity))
            elif stat.S_ISREG(st.st_mode):
                info.size = st.st_size
                entries.append(ArchiveEntry(path, info, root / path, identity))

    top = os.open(root, os.O_RDONLY | os.O_DIRECTORY)  # the root itself may be a symlink
    try:
        walk(top, "", IgnoreMatcher())
    finally:
        os.close(top)
    return entries


def archive_size(entries: Iterable[ArchiveEntry]) -> int:
    """Exact length of the stream tar_chunks produces for these entries."""
    return sum(entry.stream_size for entry in entries) + 2 * BLOCK


def _open_listed_file(source: Path, identity: Tuple[int, int], size: int) -> BinaryIO:
    """The regular file the walk listed, of the size its tar header announces."""
    # Non-blocking: a FIFO swapped in must fail the identity check, not block the open.
    fd = _open_as_listed(source, source, identity, os.O_RDONLY | os.O_NONBLOCK)
    found = os.fstat(fd).st_size
    if found != size:
        os.close(fd)
        raise _changed(source, f"{size} bytes when listed, {found} now")
    return os.fdopen(fd, "rb")


def _content(handle: BinaryIO, source: Path, size: int) -> Iterator[bytes]:
    """Exactly ``size`` bytes, what the header announced: a file that grows or shrinks
    meanwhile fails the upload rather than send what the header does not describe."""
    remaining = size
    while remaining > 0:
        data = handle.read(min(CHUNK_SIZE, remaining))
        if not data:
            raise _changed(source, f"it shrank below the {size} bytes listed")
        remaining -= len(data)
        yield data
    if handle.read(1):
        raise _changed(source, f"it grew past the {size} bytes listed")


def _raw_pieces(entries: Iterable[ArchiveEntry]) -> Iterator[bytes]:
    for entry in entries:
        if entry.source is None:
            yield _header(entry.info)
            continue
        # Opened before its header goes out: of a file that changed, nothing is sent.
        with _open_listed_file(entry.source, entry.identity, entry.info.size) as handle:
            yield _header(entry.info)
            yield from _content(handle, entry.source, entry.info.size)
        tail = entry.info.size % BLOCK
        if tail:
            yield bytes(BLOCK - tail)
    yield bytes(2 * BLOCK)  # end-of-archive marker


def tar_chunks(entries: Iterable[ArchiveEntry], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The tar stream in pieces of exactly ``chunk_size`` bytes (the last may be
    shorter)."""
    buffer = bytearray()
    for piece in _raw_pieces(entries):
        buffer += piece
        while len(buffer) >= chunk_size:
            yield bytes(buffer[:chunk_size])
            del buffer[:chunk_size]
    if buffer:
        yield bytes(buffer)


class ArchiveUpload:
    """The tar stream of ``entries`` as upload pieces, counting what progress reports
    need: ``sent(piece)`` is called as each piece is handed to the connection."""

    def __init__(self, entries: Sequence[ArchiveEntry], report: Optional[ProgressCallback] = None,
                 chunk_size: int = CHUNK_SIZE) -> None:
        self.entries = list(entries)
        self.chunk_size = chunk_size
        self.report = report
        offset = 0
        self._file_ends: List[int] = []  # stream offset at which each file is complete
        for entry in self.entries:
            offset += entry.stream_size
            if not entry.info.isdir():
                self._file_ends.append(offset)
        self.bytes_total = offset + 2 * BLOCK
        self.bytes_done = 0

    @property
    def files_total(self) -> int:
        return len(self._file_ends)

    def pieces(self) -> Iterator[bytes]:
        return tar_chunks(self.entries, self.chunk_size)

    def progress(self) -> UploadProgress:
        return UploadProgress(self.bytes_done, self.bytes_total,
                              bisect.bisect_right(self._file_ends, self.bytes_done),
                              self.files_total)

    def sent(self, piece: bytes) -> None:
        self.bytes_done += len(piece)
        if self.report is not None:
            self.report(self.progress())


ArchiveSource = Union[str, "os.PathLike[str]", bytes, Iterable[bytes], AsyncIterable[bytes]]


class StreamedArchive:
    """A tar (or tar.gz) the caller already has, as upload pieces: a file path (read
    lazily, its size known), the bytes, or an iterable of chunks (plain or async; size
    ``total`` if the caller gives it). Counts bytes for progress reports; files are not
    counted (the SDK does not parse the caller's archive)."""

    def __init__(self, source: ArchiveSource, total: Optional[int] = None,
                 report: Optional[ProgressCallback] = None, chunk_size: int = CHUNK_SIZE) -> None:
        self.report = report
        self.bytes_done = 0
        self._chunks: Union[Iterable[bytes], AsyncIterable[bytes]]
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            self._chunks = _file_chunks(path, chunk_size)
            total = path.stat().st_size if total is None else total
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            self._chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]
            total = len(data)
        else:
            self._chunks = source
        self.total = total

    @property
    def bytes_total(self) -> int:
        return self.total if self.total is not None else 0

    def progress(self) -> UploadProgress:
        return UploadProgress(self.bytes_done, self.bytes_total, 0, 0, self.total is not None)

    def sent(self, piece: bytes) -> None:
        self.bytes_done += len(piece)
        if self.report is not None:
            self.report(self.progress())

    def pieces(self) -> Union[Iterator[bytes], AsyncIterator[bytes]]:
        if isinstance(self._chunks, AsyncIterable):
            return self._async_pieces(self._chunks)
        return self._plain_pieces(self._chunks)

    def _finished(self) -> None:
        """After the last piece: the size is known now. A report only if the last one
        did not already say done (an unknown or a wrong ``total``)."""
        if self.total != self.bytes_done:
            self.total = self.bytes_done
            if self.report is not None:
                self.report(self.progress())

    def _plain_pieces(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if chunk:
                yield bytes(chunk)
        self._finished()

    async def _async_pieces(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if chunk:
                yield bytes(chunk)
        self._finished()


def _file_chunks(path: Path, chunk_size: int) -> Iterator[bytes]:
    with path.open("rb") as source:
        while True:
            chunk = source.read(chunk_size)
            if not chunk:
                return
            yield chunk
