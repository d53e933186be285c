"""from_local's tree walk and tar stream, checked by reading the stream back with
tarfile (what the server's libarchive will see)."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
from pathlib import Path
from typing import AsyncIterator, Callable, Dict, List, Tuple

import pytest

from agentfense import FileChangedError, SandboxError
from agentfense.archive import (BLOCK, CHUNK_SIZE, ArchiveEntry, ArchiveUpload, StreamedArchive,
                                archive_size, collect_entries, tar_chunks)
from agentfense.ignore import IgnoreMatcher
from agentfense.progress import ProgressBar, UploadProgress, progress_reporter


def make_tree(root: Path) -> None:
    (root / "src").mkdir()
    (root / "src" / "main.py").write_text("print('hi')\n")
    (root / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(root / "run.sh", 0o755)
    (root / "empty").mkdir()
    (root / "link").symlink_to("src/main.py")
    (root / "dangling").symlink_to("/nowhere/at/all")
    (root / "build").mkdir()
    (root / "build" / "out.o").write_bytes(b"\0" * 10)
    (root / "debug.log").write_text("log\n")
    (root / "keep.log").write_text("kept\n")
    (root / ".gitignore").write_text("build/\n*.log\n!keep.log\n")
    (root / "sub").mkdir()
    (root / "sub" / ".gitignore").write_text("/only-here.txt\n!debug2.log\n")
    (root / "sub" / "only-here.txt").write_text("x")
    (root / "sub" / "debug2.log").write_text("re-included by the deeper file\n")
    (root / "sub" / "debug3.log").write_text("still ignored\n")
    (root / "only-here.txt").write_text("anchored pattern in sub/ does not reach here\n")
    (root / ".sandboxignore").write_text("secret-notes.md\n")
    (root / "secret-notes.md").write_text("not for the agent\n")
    os.mkfifo(root / "fifo")


def read_back(entries: List[ArchiveEntry], chunk_size: int = 1 << 20) -> Dict[str, tarfile.TarInfo]:
    data = b"".join(tar_chunks(entries, chunk_size))
    assert len(data) == archive_size(entries)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {member.name: member for member in tar.getmembers()}


def contents(entries: List[ArchiveEntry]) -> Dict[str, bytes]:
    data = b"".join(tar_chunks(entries))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
                for member in tar.getmembers() if member.isreg()}


def test_ignore_files_and_kinds_of_entries(tmp_path: Path) -> None:
    make_tree(tmp_path)
    members = read_back(collect_entries(tmp_path))
    assert set(members) == {
        ".gitignore", ".sandboxignore", "src", "src/main.py", "run.sh", "empty", "link",
        "dangling", "keep.log", "sub", "sub/.gitignore", "sub/debug2.log", "only-here.txt"}
    assert members["run.sh"].mode == 0o755
    assert members["src/main.py"].mode & 0o111 == 0
    assert members["empty"].isdir()
    assert members["link"].issym() and members["link"].linkname == "src/main.py"
    assert members["dangling"].linkname == "/nowhere/at/all"
    assert contents(collect_entries(tmp_path))["src/main.py"] == b"print('hi')\n"


def test_user_patterns_override_ignore_files(tmp_path: Path) -> None:
    make_tree(tmp_path)
    names = {entry.path for entry in collect_entries(tmp_path, ["src/", "!debug.log"])}
    assert "src" not in names and "src/main.py" not in names
    assert "debug.log" in names


def test_a_file_under_an_excluded_directory_cannot_be_re_included(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "keep.txt").write_text("x")
    (tmp_path / ".gitignore").write_text("build/\n!build/keep.txt\n")
    assert {entry.path for entry in collect_entries(tmp_path)} == {".gitignore"}


def test_large_files_stream_in_fixed_chunks(tmp_path: Path) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "big.bin").write_bytes(payload)
    entries = collect_entries(tmp_path)
    chunks = list(tar_chunks(entries, chunk_size=65536))
    assert all(len(chunk) == 65536 for chunk in chunks[:-1])
    read_back(entries, chunk_size=65536)
    assert contents(entries)["big.bin"] == payload


def test_long_and_unicode_names_survive(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120) / ("é" * 60)
    deep.mkdir(parents=True)
    (deep / ("f" * 150 + ".txt")).write_text("deep")
    names = set(read_back(collect_entries(tmp_path)))
    assert f"{'d' * 120}/{'é' * 60}/{'f' * 150}.txt" in names


SECRET = b"HOST-ONLY-SECRET"  # a file of the uploading user's, outside the upload


def replace_with_symlink(path: Path, secret: Path) -> None:
    path.unlink()
    path.symlink_to(secret)


def replace_with_hard_link(path: Path, secret: Path) -> None:
    path.unlink()
    os.link(secret, path)


def replace_with_fifo(path: Path, secret: Path) -> None:
    path.unlink()
    os.mkfifo(path)  # opening it to read would wait for a writer


def remove(path: Path, secret: Path) -> None:
    path.unlink()


def send(entries: List[ArchiveEntry]) -> Tuple[bytes, pytest.ExceptionInfo]:
    """The stream as far as it got, and the FileChangedError that stopped it."""
    sent = bytearray()
    with pytest.raises(FileChangedError, match="changed while it was uploaded") as raised:
        for chunk in tar_chunks(entries, chunk_size=BLOCK):
            sent += chunk
    return bytes(sent), raised


@pytest.mark.parametrize("replace", [replace_with_symlink, replace_with_hard_link,
                                     replace_with_fifo, remove])
def test_a_file_replaced_after_the_walk_is_refused_not_followed(
        tmp_path: Path, replace: Callable[[Path, Path], None]) -> None:
    """The outside sweep's B7: the walk lists notes.txt, then someone who can write in
    the directory swaps it (the window is the whole upload). Opened by path, the
    symlink was followed and the secret sent under the innocent name."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    root = tmp_path / "project"
    root.mkdir()
    notes = root / "notes.txt"
    notes.write_bytes(b"x" * len(SECRET))  # the same size: only the identity tells
    entries = collect_entries(root)
    replace(notes, secret)
    sent, raised = send(entries)
    assert SECRET not in sent
    assert raised.value.path == str(notes) and str(notes) in str(raised.value)
    assert isinstance(raised.value, SandboxError)


def test_a_directory_above_a_file_swapped_for_a_symlink_is_refused(tmp_path: Path) -> None:
    """O_NOFOLLOW guards only the last name; the inode check covers the rest."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_bytes(SECRET)
    root = tmp_path / "project"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "notes.txt").write_bytes(b"x" * len(SECRET))
    entries = collect_entries(root)
    (root / "sub").rename(tmp_path / "sub.old")
    (root / "sub").symlink_to(outside)
    sent, raised = send(entries)
    assert SECRET not in sent and "another file is in its place" in str(raised.value)


def test_a_directory_swapped_for_a_symlink_during_the_walk_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    root = tmp_path / "project"
    (root / "sub").mkdir(parents=True)
    is_ignored = IgnoreMatcher.is_ignored

    def swap_once_listed(self: IgnoreMatcher, path: str, is_dir: bool) -> bool:
        if path == "sub" and not (root / "sub").is_symlink():
            (root / "sub").rmdir()  # between the listing of the root and the walk into sub
            (root / "sub").symlink_to(outside)
        return is_ignored(self, path, is_dir)
    monkeypatch.setattr(IgnoreMatcher, "is_ignored", swap_once_listed)
    with pytest.raises(FileChangedError, match="was replaced") as raised:
        collect_entries(root)  # never lists what is in outside/
    assert raised.value.path == str(root / "sub")


@pytest.mark.parametrize("now", [b"01", b"0123456789abc"])
def test_a_file_resized_after_the_walk_is_refused(tmp_path: Path, now: bytes) -> None:
    """The tar header announced the listed size: the stream cannot carry another."""
    target = tmp_path / "resized.txt"
    target.write_bytes(b"0123456789")
    entries = collect_entries(tmp_path)
    target.write_bytes(now)
    sent, raised = send(entries)
    assert f"10 bytes when listed, {len(now)} now" in str(raised.value)
    assert b"resized.txt" not in sent  # refused before its header went out


def shrink(path: Path) -> None:
    os.truncate(path, 100)


def grow(path: Path) -> None:
    with path.open("ab") as appended:
        appended.write(b"more")


@pytest.mark.parametrize("resize,why", [(shrink, "it shrank below"), (grow, "it grew past")])
def test_a_file_resized_while_it_is_read_is_refused(
        tmp_path: Path, resize: Callable[[Path], None], why: str) -> None:
    target = tmp_path / "big.bin"
    target.write_bytes(bytes(3 * CHUNK_SIZE))
    chunks = tar_chunks(collect_entries(tmp_path), chunk_size=CHUNK_SIZE)
    next(chunks)  # the first megabyte is on its way
    resize(target)
    with pytest.raises(FileChangedError, match=why):
        list(chunks)


def test_an_ignore_file_that_is_a_fifo_does_not_stall_the_walk(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".gitignore")
    (tmp_path / "kept.txt").write_text("x")
    assert [entry.path for entry in collect_entries(tmp_path)] == ["kept.txt"]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds in /proc")
def test_the_walk_closes_every_directory_it_opens(tmp_path: Path) -> None:
    tmp_path.joinpath(*"abcdefgh").mkdir(parents=True)
    (tmp_path / "z").symlink_to("a")
    before = len(os.listdir("/proc/self/fd"))
    assert len(collect_entries(tmp_path)) == 9
    assert len(os.listdir("/proc/self/fd")) == before


def upload_all(archive: ArchiveUpload) -> bytes:
    """What a driver does: hand each piece over, then report it sent."""
    sent = b""
    for piece in archive.pieces():
        sent += piece
        archive.sent(piece)
    return sent


def test_progress_reports_bytes_and_files_after_every_chunk(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(os.urandom(300_000))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b")
    (tmp_path / "link").symlink_to("a.bin")
    seen: List[UploadProgress] = []
    archive = ArchiveUpload(collect_entries(tmp_path), seen.append, chunk_size=65536)
    assert archive.bytes_total == archive_size(archive.entries)
    assert archive.files_total == 3  # a.bin, link, sub/b.txt; not the directory
    assert len(upload_all(archive)) == archive.bytes_total
    assert seen[-1] == UploadProgress(archive.bytes_total, archive.bytes_total, 3, 3)
    assert seen[-1].done and not seen[0].done
    assert len(seen) == -(-archive.bytes_total // 65536)
    assert [p.bytes_done for p in seen] == sorted(p.bytes_done for p in seen)
    # a.bin (first, 300 kB) is done only once its last byte went out.
    assert [p.files_done for p in seen] == [0, 0, 0, 0, 3]


def test_progress_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    def callback(progress: UploadProgress) -> None:
        pass
    assert progress_reporter(callback, 1) is callback
    assert progress_reporter(False, 10**12) is None
    assert isinstance(progress_reporter(True, 1), ProgressBar)
    assert progress_reporter(None, 10) is None  # small uploads stay quiet


def test_first_version_progress_callbacks_still_get_bytes_sent_and_total() -> None:
    seen: List[Tuple[int, int]] = []

    def old_style(sent: int, total: int) -> None:
        seen.append((sent, total))
    reporter = progress_reporter(old_style, 1)
    assert reporter is not None
    reporter(UploadProgress(5, 10, 1, 2))
    assert seen == [(5, 10)]


def test_progress_bar_draws(capsys: pytest.CaptureFixture) -> None:
    bar = ProgressBar("up")
    bar(UploadProgress(50, 100, 1, 4))
    bar(UploadProgress(100, 100, 4, 4))
    err = capsys.readouterr().err
    assert "[###############...............]" in err and "1/4 files" in err
    assert err.endswith("4/4 files\n")


def test_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        collect_entries(tmp_path / "f")


def test_streamed_archive_counts_bytes_of_a_file_bytes_and_chunks(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    archive.write_bytes(os.urandom(300_000))
    seen: List[UploadProgress] = []
    streamed = StreamedArchive(archive, report=seen.append, chunk_size=65536)
    assert streamed.bytes_total == 300_000
    sent = b""
    for piece in streamed.pieces():  # type: ignore[union-attr]
        streamed.sent(piece)
        sent += piece
    assert sent == archive.read_bytes()
    assert len(seen) == 5 and seen[-1] == UploadProgress(300_000, 300_000, 0, 0)
    assert [p.done for p in seen] == [False] * 4 + [True]

    live: List[UploadProgress] = []  # reported as each piece goes out, then the size
    stream = StreamedArchive(iter([b"ab", b"", b"cde"]), report=live.append)
    for piece in stream.pieces():  # type: ignore[union-attr]
        stream.sent(piece)
    assert live == [UploadProgress(2, 0, 0, 0, False), UploadProgress(5, 0, 0, 0, False),
                    UploadProgress(5, 5, 0, 0, True)]
    assert not live[1].done and live[1].fraction == 0.0 and live[2].done

    wrong: List[UploadProgress] = []  # a total that was wrong is corrected at the end
    stream = StreamedArchive(iter([b"abc"]), total=10, report=wrong.append)
    for piece in stream.pieces():  # type: ignore[union-attr]
        stream.sent(piece)
    assert wrong[-1] == UploadProgress(3, 3, 0, 0, True)


def test_streamed_archive_takes_async_chunks() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b"c"

    async def collect() -> List[bytes]:
        stream = StreamedArchive(chunks(), report=seen.append)
        out = []
        async for piece in stream.pieces():  # type: ignore[union-attr]
            stream.sent(piece)
            out.append(piece)
        return out
    seen: List[UploadProgress] = []
    assert asyncio.run(collect()) == [b"ab", b"c"]
    assert seen[-1] == UploadProgress(3, 3, 0, 0, True)


def test_progress_bar_without_a_known_size_or_files(capsys: pytest.CaptureFixture) -> None:
    bar = ProgressBar("up")
    bar(UploadProgress(2_000_000, 0, 0, 0, False))
    bar(UploadProgress(3_000_000, 3_000_000, 0, 0))
    err = capsys.readouterr().err
    assert "\rup 2.0 MB\r" in err and "files" not in err
    assert err.endswith("[##############################] 3.0/3.0 MB\n")
