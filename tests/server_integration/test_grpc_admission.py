"""K11: a gRPC call is admitted at its headers, before its request message is parsed.

gRPC's synchronous server parsed a unary call's request before any of the server's code
ran: a caller WITHOUT credentials sent a 62 MiB CreateSandboxRequest of 31 million empty
rules and the server grew by 1.8 GB (5.4 GB for three at once) to answer UNAUTHENTICATED.
Now the call is refused from its metadata; an admitted request is held to its method's
size limit (4 MiB; Exec 17 MiB; WriteSandboxFile 64 MiB) and to 100,000 entries per
repeated field, both checked on the serialized request."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import grpc
import pytest

from conftest import make_codebase, make_sandbox, run
from server_harness import cb, reason_of, rule, sb, serving, upload
from tenants import add_key

# 31M empty `permissions` entries (field 2, length 0): 62 MiB, under the 64 MiB message limit.
EMPTY_RULES = b"\x12\x00" * (31 << 20)


@pytest.fixture(scope="module")
def keyed():
    root = Path(tempfile.mkdtemp(prefix="af-admission-"))
    keys = root / "keys.yaml"
    key = add_key(keys, "alice", owners=["team-a"])
    yield from serving("af-admission-", config=f"auth:\n  keys_file: {keys}\n", api_key=key)
    shutil.rmtree(root, ignore_errors=True)


def peak_rss_mib(server) -> float:
    with open(f"/proc/{server.proc.pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def raw_create_sandbox(server, metadata=None):
    call = server.channel.unary_unary("/sandbox.v1.SandboxService/CreateSandbox",
                                      request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as error:
        call(EMPTY_RULES, metadata=metadata, timeout=120)
    return error.value


def test_an_unauthenticated_call_is_refused_before_its_request_is_parsed(keyed):
    before = peak_rss_mib(keyed)
    error = raw_create_sandbox(keyed, metadata=())
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
    assert reason_of(error) == "UNAUTHENTICATED"
    assert "authorization: Bearer" in error.details()
    # The request's bytes are received (62 MiB); parsing them took 1.8 GB.
    grown = peak_rss_mib(keyed) - before
    assert grown < 200, f"the server's peak memory grew by {grown:.0f} MiB"
    assert '"auth.refused"' in keyed.read_log()  # refused as every other call is


def test_an_admitted_request_past_its_methods_limit_is_refused_naming_it(keyed):
    error = raw_create_sandbox(keyed, metadata=[("authorization", f"Bearer {keyed.api_key}")])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert reason_of(error) == "REQUEST_TOO_LARGE"
    assert "the CreateSandboxRequest is 65011712 bytes" in error.details(), error.details()
    assert "the limit for CreateSandbox is 4 MiB (4194304 bytes)" in error.details()
    with pytest.raises(grpc.RpcError) as big:
        keyed.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id="s" * (5 << 20)))
    assert big.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "the limit for GetSandbox is 4 MiB" in big.value.details(), big.value.details()


def test_repeated_entries_are_counted_before_the_request_is_parsed(keyed):
    """Within the 4 MiB limit, two million empty rules would still cost ~120 MB each."""
    before = peak_rss_mib(keyed)
    call = keyed.channel.unary_unary("/sandbox.v1.SandboxService/CreateSandbox",
                                     request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as error:
        call(b"\x12\x00" * ((2 << 20) - 16),
             metadata=[("authorization", f"Bearer {keyed.api_key}")])
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value
    assert reason_of(error.value) == "REQUEST_TOO_LARGE"
    assert "permissions has more than 100000 entries" in error.value.details()
    grown = peak_rss_mib(keyed) - before
    assert grown < 64, f"the server's peak memory grew by {grown:.0f} MiB"


def test_large_files_and_stdin_still_pass(keyed):
    codebase = make_codebase(keyed, {"README.md": b"hi\n"}, owner="team-a")
    sandbox = make_sandbox(keyed, codebase, rules=[rule("**", "WRITE")])
    try:
        big = bytes(range(256)) * ((40 << 20) // 256)
        keyed.sandboxes.WriteSandboxFile(sb.WriteSandboxFileRequest(
            sandbox_id=sandbox, path="/big.bin", content=big))
        assert run(keyed, sandbox, "wc -c < /workspace/big.bin").stdout == f"{40 << 20}\n"
        stdin = "x" * (16 << 20)  # Exec's stdin limit, in a message over 4 MiB
        assert run(keyed, sandbox, "wc -c", stdin=stdin).stdout == f"{16 << 20}\n"
        # Upload chunks larger than the 4 MiB of a non-upload request.
        upload(keyed, codebase, "data/chunked.bin", big[:20 << 20], chunk=8 << 20)
        listed = keyed.codebases.ListFiles(cb.ListFilesRequest(codebase_id=codebase, path="data"))
        assert [(f.path, f.size) for f in listed.files] == [("/data/chunked.bin", 20 << 20)]
    finally:
        keyed.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))
