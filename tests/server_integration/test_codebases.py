"""CodebaseService end to end: CRUD, pagination, streaming upload/download, path
escapes, bulk tar upload and in-place import."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import uuid

import grpc
import pytest

from conftest import download, make_codebase, make_sandbox, run
from server_harness import cb, reason_of, sb, upload


def test_create_get_and_unknown(server):
    created = server.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="n", owner_id="o1"))
    assert created.id and created.name == "n" and created.owner_id == "o1"
    assert created.created_at.seconds > 0
    got = server.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=created.id))
    assert got.id == created.id and got.size == 0 and got.file_count == 0
    with pytest.raises(grpc.RpcError) as e:
        server.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id="cb_nope"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason_of(e.value) == "CODEBASE_NOT_FOUND"


def test_create_without_name_is_invalid(server):
    with pytest.raises(grpc.RpcError) as e:
        server.codebases.CreateCodebase(cb.CreateCodebaseRequest(owner_id="o"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in e.value.details()


def test_list_by_owner_pages_with_real_tokens(server):
    owner = f"pager-{uuid.uuid4().hex[:6]}"
    ids = [server.codebases.CreateCodebase(cb.CreateCodebaseRequest(name=f"c{i}", owner_id=owner)).id
           for i in range(5)]
    seen, token, pages = [], "", 0
    while True:
        page = server.codebases.ListCodebases(cb.ListCodebasesRequest(
            owner_id=owner, page_size=2, page_token=token))
        assert len(page.codebases) <= 2
        seen += [c.id for c in page.codebases]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5 and pages == 3
    with pytest.raises(grpc.RpcError) as e:
        server.codebases.ListCodebases(cb.ListCodebasesRequest(owner_id=owner, page_token="garbage!!"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_upload_streams_checksum_and_counts(server):
    codebase_id = make_codebase(server, files={})
    data = os.urandom(3 * 1024 * 1024 + 17)
    result = upload(server, codebase_id, "big/blob.bin", data)
    assert result.size == len(data)
    assert result.checksum == "sha256:" + hashlib.sha256(data).hexdigest()
    assert download(server, codebase_id, "big/blob.bin") == data
    info = server.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=codebase_id))
    assert (info.size, info.file_count) == (len(data), 1)
    upload(server, codebase_id, "/big/blob.bin", b"small")  # replace adjusts by the delta
    info = server.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=codebase_id))
    assert (info.size, info.file_count) == (5, 1)


def test_upload_size_mismatch_keeps_nothing(server):
    codebase_id = make_codebase(server, files={})

    def chunks():
        yield cb.UploadChunk(metadata=cb.UploadChunk.Metadata(
            codebase_id=codebase_id, file_path="x.txt", total_size=100))
        yield cb.UploadChunk(data=b"short")
    with pytest.raises(grpc.RpcError) as e:
        server.codebases.UploadFiles(chunks())
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    files = server.codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase_id, recursive=True))
    assert list(files.files) == []


@pytest.mark.parametrize("path", ["../x", "/../../etc/passwd", "a/../../x", "a/\0b", ""])
def test_paths_escaping_the_codebase_are_rejected(server, path):
    codebase_id = make_codebase(server, files={})
    with pytest.raises(grpc.RpcError) as e:
        upload(server, codebase_id, path, b"x")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        download(server, codebase_id, path or "..")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_list_files(server):
    codebase_id = make_codebase(server, files={"a.txt": b"1", "d/b.txt": b"22", "d/e/c.txt": b"333"})
    top = server.codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase_id, path="/"))
    assert {(f.path, f.is_dir) for f in top.files} == {("/a.txt", False), ("/d", True)}
    deep = server.codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase_id, path="d",
                                                          recursive=True))
    assert {f.path: f.size for f in deep.files if not f.is_dir} == {"/d/b.txt": 2, "/d/e/c.txt": 3}


def tar_bytes(build) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        build(tar)
    return buf.getvalue()


def add_file(tar, name, data: bytes, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def upload_archive(server, codebase_id, data: bytes, path: str = "/"):
    def chunks():
        yield cb.ArchiveChunk(metadata=cb.ArchiveChunk.Metadata(codebase_id=codebase_id, path=path))
        for i in range(0, len(data), 100_000):
            yield cb.ArchiveChunk(data=data[i:i + 100_000])
    return server.codebases.UploadArchive(chunks())


def test_archive_keeps_exec_bits_symlinks_and_empty_dirs(server):
    def build(tar):
        add_file(tar, "bin/run.sh", b"#!/bin/sh\necho ran\n", 0o755)
        add_file(tar, "src/main.py", b"print(1)\n")
        link = tarfile.TarInfo("src/link.py")
        link.type, link.linkname = tarfile.SYMTYPE, "main.py"
        tar.addfile(link)
        empty = tarfile.TarInfo("empty/dir")
        empty.type, empty.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(empty)
    codebase_id = make_codebase(server, files={})
    result = upload_archive(server, codebase_id, tar_bytes(build))
    assert result.files >= 4
    sandbox_id = make_sandbox(server, codebase_id)
    try:
        r = run(server, sandbox_id, "test -x bin/run.sh && ./bin/run.sh && readlink src/link.py "
                                    "&& test -d empty/dir && echo ok")
        assert r.exit_code == 0, r.stderr
        assert r.stdout == "ran\nmain.py\nok\n"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    info = server.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=codebase_id))
    assert info.file_count >= 3


def test_archive_with_escaping_entry_is_rejected_whole(server):
    codebase_id = make_codebase(server, files={})
    data = tar_bytes(lambda tar: (add_file(tar, "ok.txt", b"1"), add_file(tar, "../evil", b"x")))
    with pytest.raises(grpc.RpcError) as e:
        upload_archive(server, codebase_id, data)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "evil" in e.value.details()
    files = server.codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase_id, recursive=True))
    assert list(files.files) == []
    assert not os.path.exists(os.path.join(os.path.dirname(server.data_dir), "evil"))


@pytest.mark.parametrize("path", [".agentfense-commit-notes.txt", "src/.af-staging-cfg/app.yaml"])
def test_names_reserved_for_temporary_files_are_refused_at_upload(server, path):
    """Attack sweep K: such a file was stored and listed, yet no sandbox ever sees it (every
    path with such a component is none), and a cleanup of commit leftovers could delete
    it. Uploads and archives refuse it, naming the prefix."""
    codebase_id = make_codebase(server, files={})
    with pytest.raises(grpc.RpcError) as e:
        upload(server, codebase_id, path, b"x")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason_of(e.value) == "INVALID_PATH" and "reserved" in e.value.details(), e.value
    data = tar_bytes(lambda tar: (add_file(tar, "ok.txt", b"1"), add_file(tar, path, b"x")))
    with pytest.raises(grpc.RpcError) as e:
        upload_archive(server, codebase_id, data)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "reserved" in e.value.details()
    files = server.codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase_id, recursive=True))
    assert list(files.files) == []


def test_import_directory_in_place(server, import_root):
    project = os.path.join(import_root, f"proj-{uuid.uuid4().hex[:6]}")
    os.makedirs(project)
    with open(os.path.join(project, "hello.txt"), "w") as f:
        f.write("in place\n")
    codebase = server.codebases.ImportDirectory(cb.ImportDirectoryRequest(
        name="imported", owner_id="o", path=project))
    assert codebase.imported_from == project and codebase.file_count == 1
    sandbox_id = make_sandbox(server, codebase.id)
    try:
        assert run(server, sandbox_id, "cat hello.txt").stdout == "in place\n"
    finally:
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    server.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=codebase.id))
    assert os.path.exists(os.path.join(project, "hello.txt")), "import must never delete the source"


def test_import_outside_allowed_roots_is_denied(server):
    with pytest.raises(grpc.RpcError) as e:
        server.codebases.ImportDirectory(cb.ImportDirectoryRequest(name="x", owner_id="o", path="/etc"))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_delete_codebase_in_use_then_free(server):
    codebase_id = make_codebase(server, files={"a": b"1"})
    sandbox_id = make_sandbox(server, codebase_id, start=False)
    with pytest.raises(grpc.RpcError) as e:
        server.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=codebase_id))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))
    server.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=codebase_id))
    with pytest.raises(grpc.RpcError) as e:
        server.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=codebase_id))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
