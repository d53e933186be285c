"""A client that stops reading but keeps its connection alive (answers PINGs, opens no
HTTP/2 window: stalled_h2_client.py). gRPC's synchronous sends waited for it forever
(sweep S): an ExecStream's write blocked the loop that enforces the command's timeout, so
a `timeout: 3s` command ran on, and its sandbox's later execs, DiscardChanges and
DestroySandbox hung; unary answers stayed unsent with their output budget held. The server
now cancels a stream whose message is not taken within 10 s, and any unary answer not
taken within 60 s plus a second per MiB of it (docs/api.md, limits). Sweep T: answers
that held no budget (DiffChanges of 17 MB, listings) had no deadline at all, and were
counted nowhere; over REST a reader taking 4 KiB every 3 s held its diff for hours."""

from __future__ import annotations

import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from google.protobuf import duration_pb2

from conftest import make_codebase, make_sandbox
from server_harness import cb, cb_grpc, common, rule, sb, sb_grpc, serving
from server_memory import MIB, RETURN_LARGE_BLOCKS, PeakRss, rss_bytes
from stalled_h2_client import StalledH2Client, held_until_refused
from tenants import start_tenant_server

import grpc
import pytest
import requests


@pytest.fixture(scope="module")
def server():
    yield from serving("af-stalled-")


def running(marker: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()


def test_a_stream_whose_client_stops_reading_ends_and_frees_its_sandbox(server):
    sandbox = make_sandbox(server, make_codebase(server))
    marker = "stalled-stream-marker-1"
    client = StalledH2Client(server.grpc_port)
    try:
        stream = client.call("/sandbox.v1.SandboxService/ExecStream", sb.ExecRequest(
            sandbox_id=sandbox, command=f"exec yes {marker}",
            timeout=duration_pb2.Duration(seconds=3)).SerializeToString())
        deadline = time.monotonic() + 25
        while not client.finished(stream) or running(marker):
            assert time.monotonic() < deadline, (
                "the stalled stream was not cancelled: its command still runs past its timeout")
            time.sleep(0.2)
        # The sandbox is free again: a writing exec (and the sync after it) and a discard.
        result = server.sandboxes.Exec(sb.ExecRequest(
            sandbox_id=sandbox, command="echo hi > /workspace/output/x && echo ok"), timeout=15)
        assert result.stdout == "ok\n"
        server.sandboxes.DiscardChanges(sb.DiscardChangesRequest(sandbox_id=sandbox), timeout=15)
    finally:
        client.close()
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox), timeout=30)


def test_an_unread_unary_exec_answer_is_cancelled_and_its_budget_given_back(server):
    sandbox = make_sandbox(server, make_codebase(server))
    client = StalledH2Client(server.grpc_port)
    try:
        started = time.monotonic()
        stream = client.call("/sandbox.v1.SandboxService/Exec", sb.ExecRequest(
            sandbox_id=sandbox, command="head -c 8388608 /dev/zero | tr '\\0' a"
        ).SerializeToString())
        while not client.finished(stream):
            assert time.monotonic() - started < 90, "the unread answer was never cancelled"
            time.sleep(0.5)
        assert client.status.get(stream) == "1", "the unread answer was not cancelled (CANCELLED)"
        assert time.monotonic() - started > 50, "cancelled before its 60 s deadline"
    finally:
        client.close()
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox), timeout=30)


FILES = 17  # new files of 1 MB each: a DiffChanges answer of about 17 MB


@pytest.fixture(scope="module")
def large_diff(server):
    sandbox = make_sandbox(server, make_codebase(server), rules=[rule("**", "write")],
                           sync_mode=common.SYNC_MODE_MANUAL)
    result = server.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox, command=(
        f"for i in $(seq 1 {FILES}); do yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        " | head -c 1000000 > /workspace/f$i.txt; done")), timeout=120)
    assert result.exit_code == 0, result.stderr
    yield sandbox
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox), timeout=30)


def statuses(client: StalledH2Client, streams: list[int]) -> list[str | None]:
    with client.lock:
        return [client.status.get(s) for s in streams]


def test_unread_diff_answers_are_charged_to_the_budget_and_cancelled(server, large_diff):
    diff = sb.DiffChangesRequest(sandbox_id=large_diff)
    reader = sb_grpc.SandboxServiceStub(grpc.insecure_channel(
        f"127.0.0.1:{server.grpc_port}", options=[("grpc.max_receive_message_length", 64 << 20)]))
    client = StalledH2Client(server.grpc_port)
    try:
        started = time.monotonic()
        tiny = client.call("/sandbox.v1.SandboxService/GetSandbox",
                           sb.GetSandboxRequest(sandbox_id=large_diff).SerializeToString())
        # 256 MiB hold 6 unread answers charged twice 17 MB each, and then not one more
        # while its reply arrives from the fs process (charged 4 times what arrived): a
        # reader's diff is refused (before, none was, and each unread one grew the server
        # by about 50 MB for good). One at a time: replies read together may refuse each
        # other.
        held = held_until_refused(client, "/sandbox.v1.SandboxService/DiffChanges", diff,
                                  lambda: reader.DiffChanges(diff, timeout=30), "DiffChanges",
                                  pause=2, most=8)
        unread = [s for s, status in zip(held, statuses(client, held)) if status is None]
        assert len(unread) >= 5, statuses(client, held)
        # Even a tiny answer has a deadline (60 s), a 17 MB one 60 s + 17 s; each ends
        # CANCELLED, its charge given back.
        while not all(client.finished(s) for s in unread + [tiny]):
            assert time.monotonic() - started < 120, (
                f"unread answers were never cancelled: {statuses(client, unread + [tiny])}")
            time.sleep(0.5)
        assert time.monotonic() - started > 70, "cancelled before the deadline of its size"
        assert statuses(client, unread + [tiny]) == ["1"] * (len(unread) + 1)
        assert len(reader.DiffChanges(diff, timeout=30).diff) > 16 << 20  # the budget is free
    finally:
        client.close()


def test_unread_file_listings_are_charged_to_the_budget(server):
    """ListFiles answers (up to 4 MiB of paths: here ~4 MB with their other fields) were
    bounded by the answer deadline only: a tenant's unread listings held what they took
    for a minute each, counted nowhere. They are charged like a diff's now."""
    codebase = make_codebase(server, files={})
    long = "/".join(["d" * 240] * 8)  # 8 levels of 240-byte names: ~2 KB per path
    writer = make_sandbox(server, codebase, rules=[rule("**", "write")])
    made = server.sandboxes.Exec(sb.ExecRequest(sandbox_id=writer, command=(
        f"mkdir -p /workspace/{long} && cd /workspace/{long} && "
        "for i in $(seq 1 2000); do : > f$i; done")), timeout=120)
    assert made.exit_code == 0, made.stderr
    listing = cb_grpc.CodebaseServiceStub(grpc.insecure_channel(
        f"127.0.0.1:{server.grpc_port}", options=[("grpc.max_receive_message_length", 64 << 20)]))
    request = cb.ListFilesRequest(codebase_id=codebase, path="/", recursive=True)
    size = listing.ListFiles(request, timeout=60).ByteSize()
    assert size > 3 << 20, size  # 4 MiB of paths at most, and they stop there
    client = StalledH2Client(server.grpc_port)
    try:
        held_until_refused(client, "/sandbox.v1.CodebaseService/ListFiles", request,
                           lambda: listing.ListFiles(request, timeout=60), "ListFiles",
                           pause=0.5, most=(300 << 20) // (2 * size))
    finally:
        client.close()
    server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=writer), timeout=30)


# A sandbox record of ~470 KB: 100 rules of 4 KB patterns and 64 labels of 1 KB.
LARGE_RECORD = {
    "rules": [rule("/" + f"r{i:03d}-" + "x" * 4000, "read") for i in range(100)],
    "labels": {f"label{i:02d}": "v" * 1024 for i in range(64)},
}


def test_unread_sandbox_records_are_charged_to_the_budget(server):
    """Sandbox records run to megabytes (rules of 4 KB patterns, 64 labels of 1 KB) and a
    ListSandboxes page to 4 MiB of them; their answers were charged nowhere: one tenant's
    32 unread pages took the server from 74 to 1,902 MiB (sweep V, V4). Pages and records
    past 64 KiB are charged like a diff's now; a small record is not, and is still served."""
    codebase = make_codebase(server, files={})
    large = [make_sandbox(server, codebase, start=False, **LARGE_RECORD) for _ in range(10)]
    small = make_sandbox(server, make_codebase(server, files={}), start=False)
    reader = sb_grpc.SandboxServiceStub(grpc.insecure_channel(
        f"127.0.0.1:{server.grpc_port}", options=[("grpc.max_receive_message_length", 64 << 20)]))
    request = sb.ListSandboxesRequest(codebase_id=codebase)
    size = reader.ListSandboxes(request, timeout=60).ByteSize()
    assert size > 4 << 20, size  # the page ends past 4 MiB, with the record that crossed it
    client = StalledH2Client(server.grpc_port)
    try:
        held_until_refused(client, "/sandbox.v1.SandboxService/ListSandboxes", request,
                           lambda: reader.ListSandboxes(request, timeout=60), "ListSandboxes",
                           pause=0.5, most=(300 << 20) // (2 * size))
        # A record past 64 KiB is charged too (what is left fits a few more of them); one
        # under it is not.
        record = sb.GetSandboxRequest(sandbox_id=large[0])
        held_until_refused(client, "/sandbox.v1.SandboxService/GetSandbox", record,
                           lambda: reader.GetSandbox(record, timeout=60), "GetSandbox",
                           pause=0.2, most=40)
        assert reader.GetSandbox(sb.GetSandboxRequest(sandbox_id=small), timeout=60).id == small
    finally:
        client.close()


def test_records_of_many_small_rules_are_charged_what_they_hold(server):
    """Answers were charged twice their wire size, but a record of 10,000 small rules is
    150 KB on the wire and 1.2 MB in memory: one tenant's unread copies held 4 times their
    charge, 500 MB in the server for a 128 MiB share (sweep W, W2). They are charged what
    they hold in memory and on the wire now. A change that would answer with such a record
    is refused up front while the budget is spent (W3: those were charged anyway)."""
    codebase = make_codebase(server, files={})
    rules = [rule(f"/d{i:05d}", "read") for i in range(10000)]
    deadline = time.monotonic() + 30
    while True:  # earlier tests' unread answers go back once the server sees them closed
        try:
            sandbox = make_sandbox(server, codebase, rules=rules, start=False)
            break
        except grpc.RpcError as refused:
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
            assert time.monotonic() < deadline, "the budget was never given back"
            time.sleep(0.5)
    record = sb.GetSandboxRequest(sandbox_id=sandbox)
    wire = server.sandboxes.GetSandbox(record, timeout=60).ByteSize()
    client = StalledH2Client(server.grpc_port)
    try:
        # Charged twice their wire size, 256 MiB held ~900 of them; at 4 times, 447.
        held_until_refused(client, "/sandbox.v1.SandboxService/GetSandbox", record,
                           lambda: server.sandboxes.GetSandbox(record, timeout=60), "GetSandbox",
                           pause=0.05, most=(256 << 20) // (4 * wire))
        with pytest.raises(grpc.RpcError) as refused:
            server.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
                codebase_id=codebase, permissions=rules), timeout=60)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
        assert "CreateSandbox" in refused.value.details(), refused.value.details()
    finally:
        client.close()


def nine_brace_patterns() -> list:
    """71-byte patterns of 8 brace groups: 2,304 alternatives of 8 wildcard segments, 82 MB
    to compile (sweep X, X1: estimated by their bytes, they were free)."""
    return [rule("/".join([f"{{*a{i},*ab}}"] * 8), "read") for i in range(9)]


@pytest.mark.parametrize("shape", ["10k-rules", "braces"])
def test_rules_compiled_together_are_charged_to_a_budget(shape):
    """CreateSandbox compiles its rules in the server (~40 MB for 10,000 rules, 82 MB for
    nine brace patterns), and nothing bounded how many compiles ran at once: 60 creates
    sent together took the server from 32 MiB to 2.2 GB, and 100 that were all refused as
    too complex (counted against no quota) to 3.2 GB (sweep W, W1); 30 of the brace
    patterns, refused after their compile for an unknown runtime, to 2.5 GB (sweep X, X1).
    A compile holds its estimate of a 512 MiB budget now; past it the create is refused,
    to be retried."""
    for server in serving("af-compiles-", env=RETURN_LARGE_BLOCKS):
        codebase = make_codebase(server, files={})
        if shape == "braces":  # refused after the compile: counted against no quota
            request = sb.CreateSandboxRequest(codebase_id=codebase,
                                              permissions=nine_brace_patterns(), runtime=77)
        else:
            request = sb.CreateSandboxRequest(codebase_id=codebase, permissions=[
                rule(f"/dir{i:05d}/" + "f" * 40, "read") for i in range(10000)])
        compiled = "INVALID_ARGUMENT" if shape == "braces" else "created"

        def create(_: int) -> str:
            try:
                server.sandboxes.CreateSandbox(request, timeout=120)
                return "created"
            except grpc.RpcError as refused:
                if refused.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    assert "unknown runtime" in refused.details(), refused.details()
                    return "INVALID_ARGUMENT"
                assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused
                assert "of memory for compiling rules" in refused.details(), refused.details()
                return "refused"

        before = rss_bytes(server.proc.pid)
        with PeakRss(server.proc.pid) as rss, ThreadPoolExecutor(40) as pool:
            outcomes = list(pool.map(create, range(40)))
        grown_mib = (rss.peak - before) // MIB
        print(f"compiled {outcomes.count(compiled)}, refused {outcomes.count('refused')}; "
              f"grew by {grown_mib} MiB")
        assert compiled in outcomes and "refused" in outcomes, outcomes
        assert grown_mib < 700, f"40 compiles together grew the server by {grown_mib} MiB"
        assert create(0) == compiled  # the budget is given back


def test_rules_running_sandboxes_keep_are_charged_until_they_stop():
    """A running sandbox keeps its compiled rules, in the server and in its fs process,
    and only the sandbox count bounded them: 20 sandboxes of one tenant with nine brace
    patterns each held 2.6 GB in fs processes and 1.4 GB in the server (sweep Y, Y3).
    A start holds twice its compile estimate of a 2 GiB budget until the sandbox stops,
    1 GiB a tenant: about five such sandboxes, then its starts are refused while another
    tenant's still start."""
    tenants = start_tenant_server({"alice": {"owners": ["team-a"]}, "bob": {"owners": ["team-b"]}})
    try:
        def braced(client, name: str) -> str:
            codebase = client.codebases.CreateCodebase(cb.CreateCodebaseRequest(name=name)).id
            return client.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
                codebase_id=codebase, permissions=nine_brace_patterns()), timeout=120).id

        alice, bob = tenants.client("alice"), tenants.client("bob")
        started, refusal = [], None
        for i in range(8):
            sandbox = braced(alice, f"kept{i}")
            try:
                alice.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox), timeout=120)
                started.append(sandbox)
            except grpc.RpcError as refused:
                refusal = refused
                break
        assert refusal is not None, f"{len(started)} sandboxes kept their rules, none refused"
        assert refusal.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refusal
        assert "owner team-a holds" in refusal.details(), refusal.details()
        assert "of memory for running sandboxes' rules" in refusal.details(), refusal.details()
        assert 3 <= len(started) <= 7, started
        refused_record = alice.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=sandbox))
        assert refused_record.status == common.SANDBOX_STATUS_PENDING, refused_record  # nothing done
        bob.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=braced(bob, "other")),
                                   timeout=120)
        # Two stopped: with bob's sandbox running her share is less than her 1 GiB now.
        for sandbox_id in started[:2]:
            alice.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox_id), timeout=120)
        alice.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox), timeout=120)
    finally:
        tenants.stop()


def test_unread_commit_reports_keep_only_their_counts_past_the_budget(server):
    """A commit's report is never refused (the commit was applied), and was charged
    anyway: a report of 2,000 conflicts on long paths is re-sent by every commit, and one
    tenant's unread ones took the budget to 4 times its size and the server to 1.1 GB
    (sweep U). Past the budget a report keeps only its counts now."""
    codebase = make_codebase(server, files={})
    long = "/".join(["c" * 240] * 15)  # ~3.6 KB per path
    make = f"mkdir -p /workspace/{long} && cd /workspace/{long} && "
    writer = make_sandbox(server, codebase, rules=[rule("**", "write")])
    reviewed = make_sandbox(server, codebase, rules=[rule("**", "write")],
                            sync_mode=common.SYNC_MODE_MANUAL)
    for sandbox, text in ((writer, "a"), (reviewed, "b"), (writer, "c")):
        done = server.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox, command=(
            make + f"for i in $(seq 1 2000); do echo {text} > f$i; done")), timeout=120)
        assert done.exit_code == 0, done.stderr
    commit = sb.CommitChangesRequest(sandbox_id=reviewed)
    committer = sb_grpc.SandboxServiceStub(grpc.insecure_channel(
        f"127.0.0.1:{server.grpc_port}", options=[("grpc.max_receive_message_length", 64 << 20)]))
    full = committer.CommitChanges(commit, timeout=60)
    assert full.conflicts and len(full.conflicts) + full.conflicts_omitted == 2000
    assert full.ByteSize() > 4 << 20, full.ByteSize()
    client = StalledH2Client(server.grpc_port)
    try:
        for _ in range(40):  # 40 unread reports: 2 x 40 x 4 MB and more, past 256 MiB
            client.call("/sandbox.v1.SandboxService/CommitChanges", commit.SerializeToString())
        time.sleep(10)
        trimmed = committer.CommitChanges(commit, timeout=60)
        assert not trimmed.conflicts and not trimmed.reasons, len(trimmed.conflicts)
        assert trimmed.conflicts_omitted == 2000
        assert trimmed.applied_omitted == 0 and trimmed.denied_omitted == 0
    finally:
        client.close()
    for sandbox in (writer, reviewed):
        server.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox), timeout=30)


def diff_status(url: str) -> int:
    with requests.get(url, timeout=300) as answer:
        assert answer.status_code in (200, 429), answer.text
        assert answer.status_code == 429 or len(answer.content) > FILES * 1_000_000
        return answer.status_code


@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped"])
def test_diffs_made_together_are_charged_as_their_replies_arrive(stopped):
    """Diffs were charged once made: 12 sandboxes' 17 MB diffs asked at once were all
    read from their fs processes and made into answers before any was refused, 885 MiB in
    the server (8 served). Each reply is charged as it arrives now (4 times its bytes:
    read, then parsed) and refused past the 256 MiB budget. A stopped sandbox's diff is
    made by the server itself, and was charged only once made too (561 MiB for 12: sweep
    V, V2): it is charged as it grows now."""
    for server in serving("af-diffs-together-", env=RETURN_LARGE_BLOCKS):
        sandboxes = [make_sandbox(server, make_codebase(server), rules=[rule("**", "write")],
                                  sync_mode=common.SYNC_MODE_MANUAL) for _ in range(12)]
        for sandbox in sandboxes:
            assert server.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox, command=(
                f"for i in $(seq 1 {FILES}); do yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                " | head -c 1000000 > /workspace/f$i.txt; done")), timeout=120).exit_code == 0
            if stopped:
                server.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=sandbox), timeout=60)
        before = rss_bytes(server.proc.pid)
        with PeakRss(server.proc.pid) as rss, ThreadPoolExecutor(len(sandboxes)) as pool:
            codes = list(pool.map(diff_status, [f"{server.http}/v1/sandboxes/{s}/diff"
                                                for s in sandboxes]))
        grown_mib = (rss.peak - before) // MIB
        print(f"served {codes.count(200)}, refused {codes.count(429)}; grew by {grown_mib} MiB")
        assert 200 in codes
        assert grown_mib < 480, f"12 diffs made together grew the server by {grown_mib} MiB"
        assert diff_status(f"{server.http}/v1/sandboxes/{sandboxes[0]}/diff") == 200  # given back


def test_a_rest_answer_taken_below_its_minimum_rate_is_cut_off(server, large_diff):
    """Each write waited 5 s at most, but nothing bounded the whole: a reader taking 4 KiB
    every 3 s kept its 17 MB diff (and the server's copy of it) for hours. After 10 s of
    waiting, an answer must be taken at 16 KiB/s on average."""
    with socket.create_connection(("127.0.0.1", server.http_port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.sendall(f"GET /v1/sandboxes/{large_diff}/diff HTTP/1.1\r\n"
                     "Host: localhost\r\n\r\n".encode())
        started = time.monotonic()
        sock.settimeout(10)
        got = 0
        while True:
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                break
            if not data:
                break
            got += len(data)
            assert time.monotonic() - started < 50, f"still sending after {got} bytes"
            time.sleep(3)
    took = time.monotonic() - started
    assert 10 <= took < 50, took
