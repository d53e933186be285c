"""Every name takes disk: the codebase limits charge each entry at least a 4 KiB block,
a file its size when larger (archives of empty directories and 4 KB symlink targets put
124 MB on disk under a 1 MiB `storage.max_codebase_bytes` while the codebase counted 0;
an agent's commits of empty files put 80,000 inodes into a codebase charged 24 bytes).
The API's `size` stays the bytes of files."""

from __future__ import annotations

import io
import tarfile

import grpc
import pytest

from conftest import make_codebase, make_sandbox, run
from server_harness import cb, common, reason_of, sb, serving, upload

BLOCK = 4096


@pytest.fixture(scope="module")
def server():
    yield from serving("af-charges-", config="storage:\n  max_codebase_bytes: 1MiB\n")


def assert_over_codebase_limit(error: grpc.RpcError) -> None:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    assert reason_of(error) == "QUOTA_EXCEEDED", error.details()
    assert "storage.max_codebase_bytes" in error.details(), error.details()


def archive_of_dirs_and_links(prefix: str, count: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(count):
            info = tarfile.TarInfo(f"{prefix}/d{i}")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
            link = tarfile.TarInfo(f"{prefix}/l{i}")
            link.type, link.linkname = tarfile.SYMTYPE, "t" * 4000
            tar.addfile(link)
    return buf.getvalue()


def upload_archive(server, codebase_id, data):
    def chunks():
        yield cb.ArchiveChunk(metadata=cb.ArchiveChunk.Metadata(codebase_id=codebase_id, path="/"))
        yield cb.ArchiveChunk(data=data)
    return server.codebases.UploadArchive(chunks())


def codebase_paths(server, codebase_id) -> set[str]:
    listing = server.codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase_id,
                                                             recursive=True))
    return {f.path for f in listing.files}


def test_archives_of_directories_and_symlinks_stop_at_the_limit(server):
    codebase_id = make_codebase(server, files={})
    accepted = 0
    with pytest.raises(grpc.RpcError) as e:
        for i in range(10):  # 1 + 100 blocks each: the third would pass 1 MiB (256 blocks)
            upload_archive(server, codebase_id, archive_of_dirs_and_links(f"a{i}", 50))
            accepted += 1
    assert_over_codebase_limit(e.value)
    assert accepted == 2
    assert not any(p.startswith("/a2") for p in codebase_paths(server, codebase_id))
    info = server.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=codebase_id))
    assert info.size == 0 and info.file_count == 100  # the API's figures are unchanged


def test_an_upload_path_cannot_make_directories_past_the_limit(server):
    codebase_id = make_codebase(server, files={})
    deep = "/".join(f"d{i}" for i in range(300))  # 300 directories: 1.2 MiB of blocks
    with pytest.raises(grpc.RpcError) as e:
        upload(server, codebase_id, f"{deep}/f", b"x")
    assert_over_codebase_limit(e.value)
    assert codebase_paths(server, codebase_id) == set()  # not even d0
    upload(server, codebase_id, "/".join(f"d{i}" for i in range(100)) + "/f", b"x")


@pytest.mark.parametrize("make,shrink,applied", [
    # 300 directories are 1.2 MB of blocks, past the 1 MiB limit.
    ("mkdir -p $(seq -f 'many/d%g' 1 300) && ln -s a src/l", "rm -r many",
     lambda paths: "/src/l" in paths),
    # Sweep L's B1: each command's write layer is bounded by disk_inodes, but the commit
    # after it moved the files into the codebase at 0 bytes each, without end. 300 empty
    # files are 1.2 MB of blocks too; 111 fewer fit.
    ("mkdir e && cd e && touch $(seq -f 'f%g' 1 300)", "rm e/f1*",
     lambda paths: len(paths) == 2 + 1 + 189),
], ids=["directories", "empty-files"])
def test_a_commit_past_the_limit_is_refused_until_it_fits(server, make, shrink, applied):
    codebase_id = make_codebase(server, files={"src/a.txt": b"a"})
    sandbox_id = make_sandbox(server, codebase_id, rules=[
        common.PermissionRule(pattern="**", permission=common.PERMISSION_WRITE)],
        sync_mode=common.SYNC_MODE_MANUAL)
    try:
        r = run(server, sandbox_id, make)
        assert r.exit_code == 0, r.stderr
        with pytest.raises(grpc.RpcError) as e:
            server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))
        assert_over_codebase_limit(e.value)
        assert codebase_paths(server, codebase_id) == {"/src", "/src/a.txt"}
        r = run(server, sandbox_id, shrink)
        assert r.exit_code == 0, r.stderr
        server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))
        assert applied(codebase_paths(server, codebase_id))
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
