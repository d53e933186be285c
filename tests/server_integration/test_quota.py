"""Issue 9 item 4 over the API: a sandbox's writes stop at its write-layer quota
(ENOSPC inside, the host disk untouched beyond it), commits cannot grow a codebase past
its limit either, and uploads and archives are limited while they stream (an archive
bomb is refused) with RESOURCE_EXHAUSTED naming the limit, leaving nothing behind."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zlib

import grpc
import pytest
import requests

from conftest import make_codebase, make_sandbox, run
from server_harness import cb, common, reason_of, sb, serving, upload

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server():
    """Small limits, so each one can be reached quickly."""
    yield from serving("af-quota-", config=(
        "sandbox:\n  disk_bytes: 64MiB\n  disk_inodes: 5000\n"
        "storage:\n  max_upload_bytes: 4MiB\n  max_codebase_bytes: 80MiB\n"
        "  max_archive_bytes: 8MiB\n  max_archive_entries: 100\n"))


@pytest.fixture(scope="module")
def default_server():
    """No config file: the defaults must already stop an archive bomb."""
    yield from serving("af-quota-defaults-")


def host_allocated(path: str) -> int:
    total = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def sandbox_info(server, sandbox_id):
    return server.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox_id))


def destroy(server, sandbox_id):
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox_id))


def codebase_files(server, codebase_id) -> dict[str, int]:
    listing = server.codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase_id,
                                                             recursive=True))
    return {f.path: f.size for f in listing.files}


def staging_left(server) -> list[str]:
    staging = os.path.join(server.data_dir, "codebases", ".staging")
    return os.listdir(staging) if os.path.isdir(staging) else []


def assert_quota_exceeded(error: grpc.RpcError, setting: str) -> None:
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
    assert reason_of(error) == "QUOTA_EXCEEDED", error.details()
    assert setting in error.details(), error.details()


# --- the write layer -------------------------------------------------------------------

def test_dd_in_a_sandbox_stops_at_its_quota(server):
    codebase_id = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase_id, sync_mode=common.SYNC_MODE_MANUAL)
    try:
        # The attack; the server's default for this sandbox is 64 MiB.
        r = run(server, sandbox_id, "dd if=/dev/zero of=/workspace/output/big bs=1M count=1024")
        assert r.exit_code != 0 and "No space left on device" in r.stderr, r.stderr
        upper = os.path.join(server.data_dir, "sandboxes", sandbox_id, "state", "upper")
        assert 60 * MIB <= os.path.getsize(os.path.join(upper, "output", "big")) <= 64 * MIB
        assert host_allocated(upper) <= 64 * MIB + 64 * 1024, "the host paid beyond the quota"
        df = run(server, sandbox_id, "df -B1 --output=size,avail /workspace | tail -1")
        assert df.stdout.split() == [str(64 * MIB), "0"], df.stdout
        # The sandbox still works, and removing the file frees the quota.
        r = run(server, sandbox_id, "rm output/big && sleep 0.2 && "
                                    "dd if=/dev/zero of=output/again bs=1M count=32 2>/dev/null")
        assert r.exit_code == 0, r.stderr
    finally:
        destroy(server, sandbox_id)


def test_df_in_a_default_sandbox_shows_the_default_quota(default_server):
    server = default_server
    codebase_id = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase_id)
    try:
        df = run(server, sandbox_id, "df -B1 --output=size,itotal /workspace | tail -1")
        assert df.stdout.split() == [str(10 << 30), "1000000"], df.stdout
    finally:
        destroy(server, sandbox_id)


def test_resource_limits_set_the_quota_and_an_inode_flood_stops(server):
    codebase_id = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase_id, sync_mode=common.SYNC_MODE_MANUAL,
                              resources=common.ResourceLimits(disk_bytes=16 * MIB,
                                                              disk_inodes=200))
    try:
        limits = sandbox_info(server, sandbox_id).resources
        assert (limits.disk_bytes, limits.disk_inodes) == (16 * MIB, 200)
        df = run(server, sandbox_id, "df -B1 --output=size,itotal /workspace | tail -1")
        assert df.stdout.split() == [str(16 * MIB), "200"], df.stdout
        r = run(server, sandbox_id, "cd output && for i in $(seq 500); do "
                                    "touch f$i || { echo stopped=$i; break; }; done")
        assert "stopped=200" in r.stdout, r.stdout + r.stderr  # output/ is the 200th name
        assert "No space left on device" in r.stderr, r.stderr
        # A file written through the API that does not fit is refused the same way.
        with pytest.raises(grpc.RpcError) as e:
            server.sandboxes.WriteSandboxFile(sb.WriteSandboxFileRequest(
                sandbox_id=sandbox_id, path="/output/one-more", content=b"x"))
        assert_quota_exceeded(e.value, "disk_inodes")
    finally:
        destroy(server, sandbox_id)


def test_a_sandbox_gets_the_server_default_and_may_not_ask_for_more(server):
    codebase_id = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase_id, start=False)
    limits = sandbox_info(server, sandbox_id).resources
    assert (limits.disk_bytes, limits.disk_inodes) == (64 * MIB, 5000)
    destroy(server, sandbox_id)
    for resources, field in [(common.ResourceLimits(disk_bytes=128 * MIB), "disk_bytes"),
                             (common.ResourceLimits(disk_inodes=6000), "disk_inodes"),
                             (common.ResourceLimits(disk_bytes=-1), "disk_bytes")]:
        with pytest.raises(grpc.RpcError) as e:
            make_sandbox(server, codebase_id, start=False, resources=resources)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
        assert field in e.value.details(), e.value.details()


def test_commits_cannot_grow_a_codebase_past_its_limit(server):
    # With the default sync mode every command's writes are committed: without a check,
    # each command could add a full quota (64 MiB) to the codebase, without end.
    codebase_id = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase_id)
    try:
        for i in range(2):
            r = run(server, sandbox_id, f"dd if=/dev/zero of=output/big{i} bs=1M count=60")
            assert r.exit_code == 0, r.stderr
        size = server.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=codebase_id)).size
        assert size <= 80 * MIB, size
        # What was not committed stays in the write layer, bounded by the quota...
        pending = server.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=sandbox_id))
        assert [c.path for c in pending.changes] == ["/output/big1"]
        r = run(server, sandbox_id, "dd if=/dev/zero of=output/big2 bs=1M count=60")
        assert r.exit_code != 0 and "No space left on device" in r.stderr, r.stderr
        # ... and an explicit commit says why.
        with pytest.raises(grpc.RpcError) as e:
            server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))
        assert_quota_exceeded(e.value, "storage.max_codebase_bytes")
    finally:
        destroy(server, sandbox_id)


def test_hard_links_cannot_multiply_what_a_commit_writes(server):
    """The commit writes a copy per name, but its room check took the write quota's
    figure, which counts a hard-linked file once: 16 MiB linked 20 times within a 64 MiB
    quota put 336 MiB into a codebase capped at 80 MiB."""
    codebase_id = make_codebase(server)
    sandbox_id = make_sandbox(server, codebase_id)  # default sync: commit after each command
    try:
        r = run(server, sandbox_id, "dd if=/dev/zero of=output/big bs=1M count=16 status=none && "
                "for i in $(seq 1 20); do ln output/big output/l$i || exit 9; done")
        assert r.exit_code == 0, r.stderr
        files = codebase_files(server, codebase_id)
        assert sum(files.values()) <= 80 * MIB, files
        with pytest.raises(grpc.RpcError) as e:
            server.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=sandbox_id))
        assert_quota_exceeded(e.value, "storage.max_codebase_bytes")
    finally:
        destroy(server, sandbox_id)


# --- uploads ---------------------------------------------------------------------------

def test_an_oversized_plain_upload_is_refused_and_leaves_nothing(server):
    codebase_id = make_codebase(server, files={"a.txt": b"a"})
    with pytest.raises(grpc.RpcError) as e:
        upload(server, codebase_id, "dir/big.bin", b"\0" * (5 * MIB))
    assert_quota_exceeded(e.value, "storage.max_upload_bytes")
    assert codebase_files(server, codebase_id) == {"/a.txt": 1}  # not even dir/
    assert staging_left(server) == []
    # The same over REST: HTTP 429 with the reason.
    r = requests.put(f"{server.http}/v1/codebases/{codebase_id}/content/big.bin",
                     data=b"\0" * (5 * MIB))
    assert r.status_code == 429, r.text
    assert r.json()["reason"] == "QUOTA_EXCEEDED" and "max_upload_bytes" in r.json()["message"]
    assert codebase_files(server, codebase_id) == {"/a.txt": 1}


def test_a_codebase_cannot_grow_past_its_limit_by_uploads(server):
    codebase_id = make_codebase(server, files={})
    chunk = b"\1" * (3 * MIB)
    for i in range(26):  # 78 MiB of 80
        upload(server, codebase_id, f"f{i}", chunk)
    with pytest.raises(grpc.RpcError) as e:
        upload(server, codebase_id, "one-more", chunk)
    assert_quota_exceeded(e.value, "storage.max_codebase_bytes")
    assert "/one-more" not in codebase_files(server, codebase_id)
    upload(server, codebase_id, "f0", b"\2" * (3 * MIB))  # replacing a file fits


def tar_gz(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upload_archive(server, codebase_id, data, chunk: int = 64 * 1024):
    def chunks():
        yield cb.ArchiveChunk(metadata=cb.ArchiveChunk.Metadata(codebase_id=codebase_id, path="/"))
        for i in range(0, len(data), chunk):
            yield cb.ArchiveChunk(data=data[i:i + chunk])
    return server.codebases.UploadArchive(chunks())


def test_archive_entry_and_size_limits(server):
    codebase_id = make_codebase(server, files={"keep.txt": b"k"})
    many = tar_gz([(f"d/f{i}", b"x") for i in range(150)])
    with pytest.raises(grpc.RpcError) as e:
        upload_archive(server, codebase_id, many)
    assert_quota_exceeded(e.value, "storage.max_archive_entries")
    big = tar_gz([("a.bin", b"\0" * (5 * MIB)), ("b.bin", b"\0" * (5 * MIB))])
    with pytest.raises(grpc.RpcError) as e:
        upload_archive(server, codebase_id, big)
    assert_quota_exceeded(e.value, "storage.max_archive_bytes")
    assert codebase_files(server, codebase_id) == {"/keep.txt": 1}
    assert staging_left(server) == []


def gzip_of_a_tar_of_zeros(name: str, size: int) -> bytes:
    """A tar.gz of one file of `size` zero bytes, built without holding it in memory."""
    info = tarfile.TarInfo(name)
    info.size = size
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    out = [compressor.compress(header)]
    block = b"\0" * MIB
    for _ in range(size // MIB):
        out.append(compressor.compress(block))
    out.append(compressor.compress(b"\0" * (2 * 512)))  # end-of-archive blocks
    out.append(compressor.flush())
    return b"".join(out)


def test_an_archive_bomb_is_refused_with_the_default_settings(default_server):
    # A 3 MB tar.gz became a 3 GiB codebase; this one is ~250 KB of compressed zeros
    # that would expand to 256 MiB (ratio ~1000:1).
    server = default_server
    bomb = gzip_of_a_tar_of_zeros("zeros.bin", 256 * MIB)
    assert len(bomb) < MIB
    codebase_id = make_codebase(server, files={"keep.txt": b"k"})
    with pytest.raises(grpc.RpcError) as e:
        upload_archive(server, codebase_id, bomb)
    assert_quota_exceeded(e.value, "storage.max_archive_ratio")
    assert codebase_files(server, codebase_id) == {"/keep.txt": 1}
    assert staging_left(server) == []
    r = requests.post(f"{server.http}/v1/codebases/{codebase_id}/archive", data=bomb)
    assert r.status_code == 429, r.text
    assert r.json()["reason"] == "QUOTA_EXCEEDED"
    assert "storage.max_archive_ratio" in r.json()["message"]
    info = server.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=codebase_id))
    assert info.size == 1 and info.file_count == 1


def test_a_header_promising_gigabytes_is_refused_before_any_data(default_server):
    server = default_server
    info = tarfile.TarInfo("huge.bin")
    info.size = 8 << 30  # more than storage.max_archive_bytes (4 GiB); no data follows
    codebase_id = make_codebase(server, files={})
    with pytest.raises(grpc.RpcError) as e:
        upload_archive(server, codebase_id, info.tobuf(format=tarfile.GNU_FORMAT))
    assert_quota_exceeded(e.value, "storage.max_archive_bytes")
    assert codebase_files(server, codebase_id) == {}


def test_a_normal_archive_still_uploads(server):
    codebase_id = make_codebase(server, files={})
    text = b"".join(b"line %d of some source text\n" % i for i in range(20000))
    upload_archive(server, codebase_id, tar_gz([("src/a.txt", text), ("src/b.txt", b"b")]))
    assert codebase_files(server, codebase_id)["/src/a.txt"] == len(text)


OLD_CLIENT = r'''
import sys
sys.path.insert(0, sys.argv[1])
import grpc, codebase_pb2 as cb, codebase_pb2_grpc as cbg, common_pb2 as common
import sandbox_pb2 as sb, sandbox_pb2_grpc as sbg
assert "disk_bytes" not in common.ResourceLimits.DESCRIPTOR.fields_by_name
channel = grpc.insecure_channel(sys.argv[2])
codebases, sandboxes = cbg.CodebaseServiceStub(channel), sbg.SandboxServiceStub(channel)
codebase = codebases.CreateCodebase(cb.CreateCodebaseRequest(name="old", owner_id="old"))
sandbox = sandboxes.CreateSandbox(sb.CreateSandboxRequest(
    codebase_id=codebase.id, resources=common.ResourceLimits(memory_bytes=256 << 20),
    permissions=[common.PermissionRule(pattern="**", permission=common.PERMISSION_WRITE)]))
got = sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox.id))
print(got.id, got.resources.memory_bytes)
'''


def test_a_client_built_before_the_disk_fields_still_works(server, tmp_path):
    """Stubs generated from the proto without fields 5 and 6 (what existing clients have)
    create and read sandboxes as before; the server fills in its default quota."""
    from server_harness import REPO
    old_proto = tmp_path / "proto"
    old_proto.mkdir()
    for name in ("common", "sandbox", "codebase"):
        text = (REPO / "proto" / f"{name}.proto").read_text()
        if name == "common":
            text = "\n".join(line for line in text.splitlines()
                             if "disk_bytes = 5" not in line and "disk_inodes = 6" not in line)
        (old_proto / f"{name}.proto").write_text(text)
    out = tmp_path / "stubs"
    out.mkdir()
    subprocess.run(["protoc", f"-I{old_proto}", f"--python_out={out}", f"--grpc_python_out={out}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                    *(str(old_proto / f"{n}.proto") for n in ("common", "sandbox", "codebase"))],
                   check=True)
    result = subprocess.run([sys.executable, "-c", OLD_CLIENT, str(out),
                             f"127.0.0.1:{server.grpc_port}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    sandbox_id, memory = result.stdout.split()
    assert int(memory) == 256 << 20
    limits = sandbox_info(server, sandbox_id).resources
    assert (limits.disk_bytes, limits.disk_inodes) == (64 * MIB, 5000)
    destroy(server, sandbox_id)
