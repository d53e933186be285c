"""Turn a local directory into the tar stream UploadArchive takes.

The tree is walked first (honouring ignore files) so the total size is known for
progress reporting; the tar is then produced lazily, file by file, so memory stays
bounded by the chunk size however large the files are. Regular files keep their mode
bits (exec bits), symlinks are stored as links (never followed), every directory is an
entry (so empty ones survive). Sockets, FIFOs and devices are skipped.
"""

from __future__ import annotations

import os
import stat
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, TextIO, Union

from .ignore import IgnoreMatcher, parse_lines

IGNORE_FILES = (".gitignore", ".sandboxignore")  # later files override earlier ones
CHUNK_SIZE = 1 << 20  # well under gRPC's default 4 MiB message limit
BLOCK = tarfile.BLOCKSIZE

ProgressCallback = Callable[[int, int], None]  # (bytes sent, total bytes)


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


class ProgressBar:
    """A one-line progress bar on stderr, for uploads large enough to notice."""

    def __init__(self, label: str = "uploading", stream: Optional[TextIO] = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr

    def __call__(self, sent: int, total: int) -> None:
        fraction = sent / total if total else 1.0
        filled = int(fraction * 30)
        end = "\n" if sent >= total else ""
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] "
                          f"{sent / 1e6:.1f}/{total / 1e6:.1f} MB{end}")
        self.stream.flush()


# Uploads at least this large get a progress bar by default when stderr is a terminal.
PROGRESS_THRESHOLD = 50 * 1000 * 1000


def choose_progress(progress: Union[bool, ProgressCallback, None], total: int) -> Optional[ProgressCallback]:
    """progress=None: a bar for large uploads on a terminal; True: always a bar;
    False: none; a callable: called with (sent, total) after every chunk."""
    if callable(progress):
        return progress
    if progress is True or (progress is None and total >= PROGRESS_THRESHOLD
                            and sys.stderr.isatty()):
        return ProgressBar()
    return None


def with_progress(chunks: Iterable[bytes], total: int,
                  callback: Optional[ProgressCallback]) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        yield chunk
        sent += len(chunk)
        if callback is not None:
            callback(sent, total)
