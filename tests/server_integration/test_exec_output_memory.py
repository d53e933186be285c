"""REST exec results: the JSON body is rendered as it is sent, not built whole (32 MiB of
NULs used to become a 201 MB string, ~430 MB of server memory per call), and the output
finished unary execs hold until sent is bounded server wide: past 256 MiB a new exec is
refused up front (429) instead of the server growing toward OOM."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import requests

from conftest import make_codebase, make_sandbox
from server_harness import sb, sb_grpc, serving
from server_memory import MIB, PeakRss, rss_bytes

NULS = "head -c 16777216 /dev/zero; head -c 16777216 /dev/zero >&2"  # the 16 MiB cap, twice
# Uncompressed: gzipped NULs would fit in the socket buffers, and the server be done at once.
RAW = {"accept-encoding": "identity"}


@pytest.fixture(scope="module")
def server():
    yield from serving("af-exec-output-", config="runtime:\n  max_timeout: 10m\n")


@pytest.fixture
def exec_url(server):
    sandbox = make_sandbox(server, make_codebase(server))
    return f"{server.http}/v1/sandboxes/{sandbox}/exec"


def slow_exec(url: str, command: str, wait: float = 3.0):
    """A client that reads nothing for `wait` seconds once the response began."""
    with requests.post(url, json={"command": command, "timeout": "120s"}, stream=True,
                       headers=RAW) as r:
        time.sleep(wait)
        return r.status_code, r.content


def test_concurrent_nul_outputs_stay_small_in_the_server_and_arrive_exact(server, exec_url):
    # Measured: 6 such calls took the server from ~30 MB to ~2.6 GB before; now under 300 MiB of growth.
    before = rss_bytes(server.proc.pid)
    with PeakRss(server.proc.pid) as rss, ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: slow_exec(exec_url, NULS), range(6)))
    grown_mib = (rss.peak - before) // MIB
    print(f"server grew by {grown_mib} MiB")
    for status, body in results:
        assert status == 200, body[:300]
        assert len(body) > 6 * 32 * MIB  # each NUL is "\u0000"
        result = json.loads(body)
        assert result["stdout"] == "\0" * (16 * MIB) and result["stderr"] == "\0" * (16 * MIB)
        assert result["exitCode"] == 0 and not result["stdoutTruncated"]
        assert result["stdoutBytes"] == "" and result["stderrBytes"] == ""
    assert grown_mib < 450, f"6 execs of 32 MiB output grew the server by {grown_mib} MiB"


def test_session_exec_body_keeps_control_bytes_and_invalid_utf8(server, exec_url):
    sandbox = exec_url.split("/")[-2]
    session = requests.post(f"{server.http}/v1/sandboxes/{sandbox}/sessions", json={}).json()
    # printf: every byte value, 4000 times (~1 MiB, not UTF-8), then text with quotes.
    command = ("python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4000)'; "
               "printf '\"q\\\\ \\342\\202\\254 <>' >&2")
    r = requests.post(f"{server.http}/v1/sessions/{session['id']}/exec", json={"command": command})
    assert r.status_code == 200, r.text[:300]
    result = r.json()
    assert base64.b64decode(result["stdoutBytes"]) == bytes(range(256)) * 4000
    assert result["stderr"] == '"q\\ \u20ac <>' and result["stderrBytes"] == ""
    assert result["stdout"] == (bytes(range(256)) * 4000).decode("utf-8", "replace")


def test_execs_past_the_output_budget_are_refused_up_front(server, exec_url):
    """Eight results of 32 MiB held by clients that do not read fill the 256 MiB budget:
    the ninth exec is refused before it runs; they keep their results; once sent, execs
    run again."""
    with ThreadPoolExecutor(8) as pool:
        held = [requests.post(exec_url, json={"command": NULS}, stream=True, headers=RAW)
                for _ in range(8)]
        try:
            assert [r.status_code for r in held] == [200] * 8
            refused = requests.post(exec_url, json={"command": "touch /workspace/output/ran"})
            assert refused.status_code == 429, refused.text
            error = refused.json()
            assert error["status"] == "RESOURCE_EXHAUSTED"
            assert "of command output for other calls" in error["message"], error
            bodies = list(pool.map(lambda r: r.content, held))
        finally:
            for r in held:
                r.close()
    for body in bodies:
        assert json.loads(body)["stderr"] == "\0" * (16 * MIB)
    again = requests.post(exec_url, json={"command": "test -e /workspace/output/ran; echo $?"})
    assert again.status_code == 200 and again.json()["stdout"] == "1\n", again.text


def test_a_timed_out_exec_carries_the_tail_of_its_output(server, exec_url):
    """A timed-out command's error body carried its whole output (32 MiB of NULs: ~200 MB
    of JSON, built and parsed again whole, outside the output budget): 4 such calls grew
    the server by 2.8 GB (now ~210 MiB, the raw output while it is cut). It carries the
    last MiB of each stream now, marked cut."""
    before = rss_bytes(server.proc.pid)
    with PeakRss(server.proc.pid) as peak:
        with ThreadPoolExecutor(4) as pool:
            bodies = list(pool.map(lambda _: requests.post(
                exec_url, json={"command": NULS + "; sleep 60", "timeout": "3s"},
                headers=RAW, timeout=120), range(4)))
    grown = (peak.peak - before) / MIB
    assert grown < 300, f"the server grew by {grown:.0f} MiB for 4 timed-out execs"
    for r in bodies:
        assert r.status_code == 504 and r.json()["reason"] == "COMMAND_TIMEOUT", r.text[:200]
        partial = r.json()["result"]
        assert partial["exitCode"] == 137 and partial["stdoutTruncated"], partial.keys()
        assert partial["stdout"] == "\0" * MIB and partial["stderrTruncated"]
        assert partial["stderr"] == "\0" * MIB


def test_timed_out_exec_bodies_count_against_the_budget_until_sent(server, exec_url):
    """A timed-out exec's REST error body (the last MiB of each stream: 12 MiB of JSON for
    NULs) was held until sent outside the output budget, for as long as its client took
    (at the 16 KiB/s minimum rate, over 10 minutes): 26 unread bodies held 312 MiB and
    execs were still admitted. The body is charged to the exec's grant until sent now."""
    tails = "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; sleep 60"

    def unread(_):
        answer = requests.post(exec_url, json={"command": tails, "timeout": "2s"}, stream=True,
                               headers=RAW, timeout=60)
        assert answer.status_code in (504, 429), answer.status_code
        return answer

    with ThreadPoolExecutor(26) as pool:
        held = list(pool.map(unread, range(26)))
    try:
        assert sum(r.status_code == 504 for r in held) > 21  # 256 MiB / 12 MiB
        refused = requests.post(exec_url, json={"command": "true"}, headers=RAW, timeout=30)
        assert refused.status_code == 429, refused.text[:200]
        assert "of command output for other calls" in refused.json()["message"]
        body = next(r for r in held if r.status_code == 504).json()  # read whole: all there
        assert body["reason"] == "COMMAND_TIMEOUT" and body["result"]["stdout"] == "\0" * MIB
    finally:
        for r in held:
            r.close()
    deadline = time.monotonic() + 20
    while (again := requests.post(exec_url, json={"command": "echo ok"}, headers=RAW,
                                  timeout=30)).status_code == 429:
        assert time.monotonic() < deadline, "the bodies' charge was never given back"
        time.sleep(0.5)
    assert again.status_code == 200 and again.json()["stdout"] == "ok\n", again.text


class StalledReader:
    """A loopback proxy to `port` that passes the client's bytes on and, once `stall`
    is set, stops passing the server's: a client that does not read its answers."""

    def __init__(self, port: int):
        self.port, self.stall, self.sockets = port, threading.Event(), []
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.port))
            self.sockets += [client, server]
            threading.Thread(target=self.pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self.pipe, args=(server, client, True), daemon=True).start()

    def pipe(self, source, target, from_server):
        try:
            while data := source.recv(65536):
                while from_server and self.stall.is_set() and self.sockets:
                    time.sleep(0.1)
                target.sendall(data)
        except OSError:
            pass

    def close(self):
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.sockets = []


def once_given_back(call):
    """`call()`'s answer once a budget refuses it no more (RESOURCE_EXHAUSTED until then),
    within 20 s."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return call()
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.monotonic() < deadline, "the budget was never given back"
            time.sleep(0.5)


def test_grpc_results_count_against_the_budget_until_sent(server, exec_url):
    """Attack sweep O1: a gRPC unary result was charged only until the method returned,
    and gRPC then held it until the client read it: 14 unread results of 32 MiB grew the
    server by 1 GB while the budget admitted more execs. It is held until sent now."""
    sandbox = exec_url.split("/")[-2]
    proxy = StalledReader(server.grpc_port)
    channel = grpc.insecure_channel(f"127.0.0.1:{proxy.listener.getsockname()[1]}",
                                    options=[("grpc.max_receive_message_length", 128 << 20)])
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        proxy.stall.set()
        stub = sb_grpc.SandboxServiceStub(channel)
        unread = []
        for _ in range(8):  # 8 x 32 MiB: the whole budget, one call at a time
            unread.append(stub.Exec.future(sb.ExecRequest(sandbox_id=sandbox, command=NULS)))
            time.sleep(1)
        with pytest.raises(grpc.RpcError) as refused:
            server.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox, command="true"), timeout=30)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "of command output for other calls" in refused.value.details()
    finally:
        proxy.close()
        channel.close()
    # Once the unread answers are gone, execs run again.
    assert once_given_back(lambda: server.sandboxes.Exec(
        sb.ExecRequest(sandbox_id=sandbox, command="echo ok"), timeout=30)).stdout == "ok\n"


def test_text_of_output_that_is_not_utf8_takes_only_the_room_left(server, exec_url):
    """Output that is not UTF-8 is answered twice: its exact bytes and a text rendering
    (up to 15 MiB per stream). The rendering was charged once made, past any bound: 32
    MiB of such output became a 62 MiB result, and one tenant held 246 MiB of its 128
    MiB share (sweep U, U1). It takes only what the budget leaves now (at least 64 KiB
    per stream); the exact bytes are whole either way."""
    sandbox = exec_url.split("/")[-2]
    proxy = StalledReader(server.grpc_port)
    big = [("grpc.max_receive_message_length", 128 << 20)]
    channel = grpc.insecure_channel(f"127.0.0.1:{proxy.listener.getsockname()[1]}", options=big)
    reader = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}", options=big)
    ff = "head -c 16777216 /dev/zero | tr '\\0' '\\377'"
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        proxy.stall.set()
        stub = sb_grpc.SandboxServiceStub(channel)
        unread = []
        for _ in range(7):  # 7 x 32 MiB of the 256 MiB, one call at a time
            unread.append(stub.Exec.future(sb.ExecRequest(sandbox_id=sandbox, command=NULS)))
            time.sleep(1)
        result = sb_grpc.SandboxServiceStub(reader).Exec(sb.ExecRequest(
            sandbox_id=sandbox, command=f"{ff}; {ff} >&2"), timeout=120)
    finally:
        proxy.close()
        channel.close()
        reader.close()
    assert result.stdout_bytes == b"\xff" * (16 * MIB)
    assert result.stderr_bytes == b"\xff" * (16 * MIB)
    assert not result.stdout_truncated and not result.stderr_truncated
    assert set(result.stdout) == {"\ufffd"} and set(result.stderr) == {"\ufffd"}
    # Before: 5 MiB characters each (15 MiB of text) whatever the budget held.
    assert len(result.stdout.encode()) <= 64 << 10, len(result.stdout)
    assert len(result.stderr.encode()) <= 64 << 10, len(result.stderr)


def test_grpc_file_reads_count_against_their_budget_until_sent(server, exec_url):
    """The same for ReadSandboxFile's 256 MiB: 6 unread answers of a 60 MiB file grew the
    server by 720 MiB while the budget admitted more reads."""
    sandbox = exec_url.split("/")[-2]
    server.sandboxes.Exec(sb.ExecRequest(
        sandbox_id=sandbox, command="head -c 62914560 /dev/zero > /workspace/output/big"))
    read = sb.ReadSandboxFileRequest(sandbox_id=sandbox, path="output/big")
    big = [("grpc.max_receive_message_length", 128 << 20)]
    proxy = StalledReader(server.grpc_port)
    channel = grpc.insecure_channel(f"127.0.0.1:{proxy.listener.getsockname()[1]}", options=big)
    direct = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}", options=big)
    try:
        grpc.channel_ready_future(channel).result(timeout=10)
        proxy.stall.set()
        unread = [sb_grpc.SandboxServiceStub(channel).ReadSandboxFile.future(read)]
        for _ in range(3):  # 4 x 60 MiB held: a fifth does not fit in 256 MiB
            time.sleep(1.5)
            unread.append(sb_grpc.SandboxServiceStub(channel).ReadSandboxFile.future(read))
        time.sleep(1.5)
        with pytest.raises(grpc.RpcError) as refused:
            sb_grpc.SandboxServiceStub(direct).ReadSandboxFile(read, timeout=30)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "of files for other reads" in refused.value.details()
    finally:
        proxy.close()
        channel.close()
    # Once the unread answers are gone, reads are served again.
    assert len(once_given_back(lambda: sb_grpc.SandboxServiceStub(direct).ReadSandboxFile(
        read, timeout=30)).content) == 62914560
    direct.close()


def test_rest_file_reads_count_against_their_budget_until_sent(server, exec_url):
    """REST's ReadSandboxFile built its body and gave the read budget back before httplib
    sent it: a client that did not read kept 60 MiB each outside the budget. Four unread
    bodies now fill it (a fifth read is refused) until they are read."""
    sandbox = exec_url.split("/")[-2]
    server.sandboxes.Exec(sb.ExecRequest(
        sandbox_id=sandbox,
        command="head -c 62914560 /dev/zero > /workspace/output/big; : > /workspace/output/0"))
    url = f"{server.http}/v1/sandboxes/{sandbox}/content/output/big"
    held = []
    try:
        for _ in range(4):  # 4 x 60 MiB held: a fifth does not fit in 256 MiB
            held.append(requests.get(url, stream=True, headers=RAW, timeout=30))
            assert held[-1].status_code == 200, held[-1].text[:200]
        refused = requests.get(url, headers=RAW, timeout=30)
        assert refused.status_code == 429, refused.text[:200]
        assert "of files for other reads" in refused.json()["message"]
        bodies = [len(r.content) for r in held]
    finally:
        for r in held:
            r.close()
    assert bodies == [62914560] * 4
    served = requests.get(url, headers=RAW, timeout=30)
    assert served.status_code == 200 and len(served.content) == 62914560
    empty = requests.get(url[:-3] + "0", headers=RAW, timeout=30)
    assert empty.status_code == 200 and empty.content == b"", empty.text
    absent = requests.get(url[:-3] + "none", headers=RAW, timeout=30)
    assert absent.status_code == 404, absent.text


def test_execs_running_together_in_one_sandbox_hold_no_more_than_the_budget(server, exec_url):
    """Each exec's result waits for the sync after it, which waits for the sandbox's other
    running commands; each running exec became the oldest in turn and wrote all it had, so
    all their results were held at once: 24 execs of 32 MiB that each wrote a file took the
    server from 32 MiB to 1.5 GB. What the oldest writes past the budget while results may
    wait for it is cut now (after 2 s), and flagged truncated."""
    sandbox = exec_url.split("/")[-2]
    big = [("grpc.max_receive_message_length", 128 << 20)]
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}", options=big)
    stub = sb_grpc.SandboxServiceStub(channel)
    writing = NULS + "; touch /workspace/output/wrote-$$"
    before = rss_bytes(server.proc.pid)
    try:
        with PeakRss(server.proc.pid) as rss:
            calls = [stub.Exec.future(sb.ExecRequest(sandbox_id=sandbox, command=writing))
                     for _ in range(24)]
            results = [call.result(timeout=300) for call in calls]
    finally:
        channel.close()
    grown_mib = (rss.peak - before) // MIB
    print(f"server grew by {grown_mib} MiB")
    cut = 0
    for result in results:
        assert result.exit_code == 0
        assert set(result.stdout) <= {"\0"} and set(result.stderr) <= {"\0"}
        assert len(result.stdout) == 16 * MIB or result.stdout_truncated
        assert len(result.stderr) == 16 * MIB or result.stderr_truncated
        cut += result.stdout_truncated or result.stderr_truncated
    assert cut > 0, "no result was cut, yet 768 MiB of output ran in one sandbox"
    assert streamed_stdout(server, sandbox, "ls /workspace/output | grep -c wrote-") == "24\n"
    assert grown_mib < 1000, f"24 execs in one sandbox grew the server by {grown_mib} MiB"


def streamed_stdout(server, sandbox: str, command: str) -> str:
    """The first piece of `command`'s stdout through ExecStream (not counted in the output
    budget), without waiting for the sync after it (which waits for every running exec)."""
    stream = server.sandboxes.ExecStream(sb.ExecRequest(sandbox_id=sandbox, command=command),
                                         timeout=60)
    try:
        for out in stream:
            if out.type == sb.ExecOutput.OUTPUT_TYPE_STDOUT:
                return out.data.decode()
        return ""
    finally:
        stream.cancel()


def test_running_execs_wait_for_room_instead_of_holding_output_uncounted(server, exec_url):
    """Output was charged only once a command ended, so execs started together all ran and
    each held up to 32 MiB uncounted while running (512 gRPC calls of one principal:
    16 GB). It is charged as written now; past the 256 MiB, a command's output waits until
    the oldest running exec has ended. Results stay exact, but for those of execs running
    together in one sandbox past the budget: their results all wait for the last of them
    (the sync after each waits for the others), so what they write past it is cut, and
    flagged truncated."""
    sandbox = exec_url.split("/")[-2]
    big = [("grpc.max_receive_message_length", 128 << 20)]
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}", options=big)
    stub = sb_grpc.SandboxServiceStub(channel)
    printing = NULS + "; touch /workspace/output/printed-$$"
    try:
        # The oldest: prints 32 MiB, then runs on for 8 s.
        oldest = stub.Exec.future(sb.ExecRequest(
            sandbox_id=sandbox, command=NULS + "; touch /workspace/output/oldest; sleep 8"))
        deadline = time.monotonic() + 20
        while "oldest" not in streamed_stdout(server, sandbox, "ls /workspace/output"):
            assert time.monotonic() < deadline, "the first exec never printed"
            time.sleep(0.2)
        # 12 x 32 MiB more than the 224 MiB left: at most 7 can print while it runs.
        younger = [stub.Exec.future(sb.ExecRequest(sandbox_id=sandbox, command=printing))
                   for _ in range(12)]
        time.sleep(4)
        printed = streamed_stdout(server, sandbox, "ls /workspace/output | grep -c printed-")
        assert not oldest.done(), "the check came too late: the first exec had ended"
        assert int(printed) <= 7, f"{printed.strip()} execs held 32 MiB each past the budget"
        assert oldest.result(timeout=60).stderr == "\0" * (16 * MIB)
        accepted = 0
        for call in younger:
            try:
                result = call.result(timeout=120)
            except grpc.RpcError as error:  # arrived once the budget was spent: refused
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                continue
            accepted += 1
            assert set(result.stdout) <= {"\0"} and set(result.stderr) <= {"\0"}
            assert len(result.stdout) == 16 * MIB or result.stdout_truncated
            assert len(result.stderr) == 16 * MIB or result.stderr_truncated
        assert accepted >= 8, f"only {accepted} execs ran: the budget was never overdrawn"
    finally:
        channel.close()
