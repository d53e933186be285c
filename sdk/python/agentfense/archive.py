"""Turn a local directory into the tar stream UploadArchive takes (and count what an
archive the caller already has sends: StreamedArchive).

The tree is walked first (honouring ignore files) so the totals are known for
progress reporting (progress.py); the tar is then produced lazily, file by file, so memory stays
bounded by the chunk size however large the files are. Regular files keep their mode
bits (exec bits), symlinks are stored as links (never followed), every directory is an
entry (so empty ones survive). Sockets, FIFOs and devices are skipped.
"""

from __future__ import annotations

import bisect
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import (AsyncIterable, AsyncIterator, Iterable, Iterator, List, Optional, Sequence,
                    Union)

from .ignore import IgnoreMatcher, parse_lines
from .progress import ProgressCallback, UploadProgress

IGNORE_FILES = (".gitignore", ".sandboxignore")  # later files override earlier ones
CHUNK_SIZE = 1 << 20  # well under gRPC's default 4 MiB message limit
BLOCK = tarfile.BLOCKSIZE


@dataclass(frozen=True)
class ArchiveEntry:
    path: str  # relative to the root, "/"-separated
    info: tarfile.TarInfo
    source: Optional[Path]  # file to copy the content from (regular files only)

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


def _read_ignore_file(directory: Path, name: str, base: str) -> IgnoreMatcher:
    path = directory / name
    if not path.is_file():
        return IgnoreMatcher()
    return IgnoreMatcher(parse_lines(path.read_text(errors="replace").splitlines(), base))


def collect_entries(root: Union[str, Path], ignore_patterns: Sequence[str] = (),
                    ignore_files: Sequence[str] = IGNORE_FILES) -> List[ArchiveEntry]:
    """Every non-ignored entry under ``root``, parents before children, sorted by name.
    ``ignore_patterns`` (gitignore syntax, relative to the root) override the files."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    user_rules = parse_lines(ignore_patterns)
    entries: List[ArchiveEntry] = []

    def walk(directory: Path, relative: str, inherited: IgnoreMatcher) -> None:
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
            if is_dir:
                info.type = tarfile.DIRTYPE
                entries.append(ArchiveEntry(path, info, None))
                walk(Path(child.path), path, matcher)
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(child.path)
                entries.append(ArchiveEntry(path, info, None))
            elif stat.S_ISREG(st.st_mode):
                info.size = st.st_size
                entries.append(ArchiveEntry(path, info, Path(child.path)))

    walk(root, "", IgnoreMatcher())
    return entries


def archive_size(entries: Iterable[ArchiveEntry]) -> int:
    """Exact length of the stream tar_chunks produces for these entries."""
    return sum(entry.stream_size for entry in entries) + 2 * BLOCK


def _raw_pieces(entries: Iterable[ArchiveEntry]) -> Iterator[bytes]:
    for entry in entries:
        yield _header(entry.info)
        if entry.source is None:
            continue
        remaining = entry.info.size
        # The header already promised info.size bytes: a file that grows meanwhile is
        # cut there, one that shrinks is zero-padded, so the stream stays well-formed.
        with open(entry.source, "rb") as handle:
            while remaining > 0:
                data = handle.read(min(CHUNK_SIZE, remaining))
                if not data:
                    break
                remaining -= len(data)
                yield data
        if remaining:
            yield bytes(remaining)
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
