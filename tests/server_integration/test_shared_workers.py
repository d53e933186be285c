"""One tenant cannot take a shared server's threads from the others (attack K13, K7).

Every call that waits holds a transport thread for its whole wait: calls queued on one
session (its commands run one at a time), REST requests that run long, audit follows.
With default quotas one principal queued 140 calls on one session and held all 128 REST
workers (other tenants' REST calls got no answer); its audit follows took the server's
file descriptors. Each is bounded now, refused RESOURCE_EXHAUSTED / 429 with reason
QUOTA_EXCEEDED naming the bound, and another tenant is still served."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import grpc
import pytest
import requests

from server_harness import AGENT_SAFE, cb, cb_grpc, reason_of, rule, sb
from stalled_h2_client import StalledH2Client
from tenants import start_tenant_server

MAX_SESSION_WAITING = 4  # live_sandbox.h kMaxSessionCallsWaiting
REST_SHARE = 64  # rest_gateway.cc kRestThreadsPerPrincipal: half of 128 workers
GRPC_SHARE = 512  # grpc_service.cc kGrpcThreadsPerPrincipal: half of 1,024 threads


@pytest.fixture(scope="module")
def tenants():
    # alice and bob keep the default quotas; follower may follow without a quota of its own.
    t = start_tenant_server({
        "alice": {"owners": ["team-a"]},
        "alice2": {"owners": ["team-a"]},  # a second key of alice's tenant
        "bob": {"owners": ["team-b"]},
        "carol": {"owners": ["team-c"]},
        "dual": {"owners": ["team-d", "team-e"]},  # one key acting for two owners
        "follower": {"owners": ["team-f"], "quotas": {"concurrent_follows": "0"}},
        "uploader": {"owners": ["team-u"]},
    })
    yield t
    t.stop()


def started_sandbox(client, name: str, owner: str = "") -> str:
    codebase = client.codebases.CreateCodebase(
        cb.CreateCodebaseRequest(name=name, owner_id=owner)).id
    sandbox = client.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
        codebase_id=codebase, permissions=AGENT_SAFE)).id
    client.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox))
    return sandbox


def fresh_http(client) -> requests.Session:
    """A connection of its own (a requests.Session is not shared between threads)."""
    http = requests.Session()
    http.trust_env = False
    http.headers.update(client.http.headers)
    http.verify = client.http.verify
    return http


def bob_is_served(tenants) -> None:
    bob = tenants.client("bob")
    started = time.monotonic()
    r = bob.http.get(f"{bob.url}/v1/codebases", timeout=10)
    assert r.status_code == 200, r.text
    assert time.monotonic() - started < 5
    assert bob.codebases.ListCodebases(cb.ListCodebasesRequest(), timeout=10) is not None


def test_calls_waiting_on_one_session_are_bounded(tenants):
    alice = tenants.client("alice")
    sandbox = started_sandbox(alice, "queue")
    session = alice.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox)).id
    url = f"{alice.url}/v1/sessions/{session}/exec"

    def rest_call(command: str) -> requests.Response:
        with fresh_http(alice) as http:
            return http.post(url, json={"command": command}, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(1 + MAX_SESSION_WAITING) as pool:
        running = pool.submit(rest_call, "sleep 4")
        time.sleep(0.7)
        waiting = [pool.submit(rest_call, "echo waited") for _ in range(MAX_SESSION_WAITING)]
        time.sleep(1)
        # The running command and MAX_SESSION_WAITING behind it: one more is refused.
        r = alice.http.post(url, json={"command": "true"}, timeout=10)
        assert r.status_code == 429, r.text
        assert r.json()["reason"] == "QUOTA_EXCEEDED"
        assert f"already has {MAX_SESSION_WAITING} calls waiting" in r.json()["message"]
        assert session in r.json()["message"]
        with pytest.raises(grpc.RpcError) as e:
            alice.sandboxes.SessionExec(sb.SessionExecRequest(session_id=session, command="true"))
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert reason_of(e.value) == "QUOTA_EXCEEDED"
        assert "calls waiting for its running command" in e.value.details()
        # Another session of the same sandbox is not held back, nor is another tenant.
        other = alice.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox)).id
        assert alice.sandboxes.SessionExec(sb.SessionExecRequest(
            session_id=other, command="echo free")).stdout == "free\n"
        bob_is_served(tenants)
        # The ones admitted all ran, in turn.
        assert running.result().status_code == 200
        for call in waiting:
            assert call.result().json()["stdout"] == "waited\n", call.result().text
    # Once the queue drained the session takes calls again.
    assert alice.sandboxes.SessionExec(sb.SessionExecRequest(
        session_id=session, command="true")).exit_code == 0
    alice.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def test_one_principal_holds_at_most_half_the_rest_workers(tenants):
    """Audit follows over REST hold their worker while the response streams; past its
    share any further REST request of the principal is refused, the others' are served."""
    follower = tenants.client("follower")
    sandbox = started_sandbox(follower, "share")
    url = f"{follower.url}/v1/sandboxes/{sandbox}/audit"
    opened = threading.Semaphore(0)

    def follow() -> None:
        with fresh_http(follower) as http:
            try:
                with http.get(url, params={"follow": "true"}, stream=True, timeout=60) as r:
                    assert r.status_code == 200, r.text
                    lines = r.iter_lines()
                    next(lines)  # the stream is open: its first event arrived
                    opened.release()
                    for _ in lines:
                        pass  # until the sandbox is destroyed: the follow ends with it
            except requests.RequestException:
                pass

    threads = [threading.Thread(target=follow, daemon=True) for _ in range(REST_SHARE)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(REST_SHARE):
            assert opened.acquire(timeout=60), "a follow never opened"
        r = follower.http.get(f"{follower.url}/v1/codebases", timeout=10)
        assert r.status_code == 429, r.text
        assert r.json()["reason"] == "QUOTA_EXCEEDED"
        assert f"already has {REST_SHARE} REST requests in flight" in r.json()["message"]
        # gRPC has threads of its own; other tenants' REST requests get workers.
        assert follower.codebases.ListCodebases(cb.ListCodebasesRequest()) is not None
        bob_is_served(tenants)
    finally:
        follower.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))
    for thread in threads:
        thread.join(timeout=30)
    deadline = time.monotonic() + 20
    while follower.http.get(f"{follower.url}/v1/codebases", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the REST share was never given back"
        time.sleep(0.2)


def idle_uploads(client, count: int, release: threading.Event) -> list:
    """`count` upload streams of `client` that send no chunk until `release`."""
    def idle_upload():
        release.wait(120)
        return
        yield  # pragma: no cover (a generator that yields nothing)

    stub = cb_grpc.CodebaseServiceStub(client.channel)
    key = [("authorization", f"Bearer {client.api_key}")]
    return [stub.UploadFiles.future(idle_upload(), metadata=key, timeout=120)
            for _ in range(count)]


def wait_grpc_refused(client, words: str) -> None:
    deadline = time.monotonic() + 60
    while True:  # the streams reach the server's handlers one by one
        try:
            client.codebases.ListCodebases(cb.ListCodebasesRequest(), timeout=10)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
            assert reason_of(e) == "QUOTA_EXCEEDED"
            assert words in e.details(), e.details()
            return
        assert time.monotonic() < deadline, "the tenant's gRPC calls were never bounded"
        time.sleep(0.2)


def test_one_tenant_holds_at_most_half_the_grpc_threads_and_two_leave_room(tenants):
    """An upload stream holds a gRPC thread from its headers on, chunks or none: one
    tenant's idle streams could hold all 1,024 and every other tenant's gRPC call was
    refused. Past its share the tenant's next gRPC call is refused; others are served,
    and the share comes back when its calls end. A second tenant may hold half of what
    the first leaves (sweep T: with a fixed half each, two tenants took all 1,024 threads
    and a third tenant's every gRPC call was refused)."""
    uploader, alice = tenants.client("uploader"), tenants.client("alice")
    release = threading.Event()
    uploads = idle_uploads(uploader, GRPC_SHARE, release)
    try:
        wait_grpc_refused(uploader, f"owner team-u already has {GRPC_SHARE} gRPC calls in flight")
        # REST has workers of its own; other tenants' gRPC calls get threads.
        r = uploader.http.get(f"{uploader.url}/v1/codebases", timeout=10)
        assert r.status_code == 200, r.text
        uploads += idle_uploads(alice, GRPC_SHARE, release)
        wait_grpc_refused(alice, "shared; now less: half of what other tenants leave")
        bob_is_served(tenants)
    finally:
        release.set()
    for upload in uploads:
        with pytest.raises(grpc.RpcError):  # an upload without chunks is refused
            upload.result(timeout=60)
    deadline = time.monotonic() + 20
    while True:
        try:
            uploader.codebases.ListCodebases(cb.ListCodebasesRequest(), timeout=10)
            break
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
            assert time.monotonic() < deadline, "the gRPC share was never given back"
            time.sleep(0.2)


def open_follows(client, sandbox: str, count: int) -> list:
    """`count` gRPC follows of `sandbox`, each open (its first event arrived)."""
    streams = []
    for _ in range(count):
        stream = client.sandboxes.GetAuditEvents(sb.GetAuditEventsRequest(sandbox_id=sandbox,
                                                                          follow=True))
        next(stream)
        streams.append(stream)
    return streams


def assert_follow_refused(client, sandbox: str, words: str) -> None:
    with pytest.raises(grpc.RpcError) as e:
        next(client.sandboxes.GetAuditEvents(sb.GetAuditEventsRequest(sandbox_id=sandbox,
                                                                      follow=True)))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.value
    assert reason_of(e.value) == "QUOTA_EXCEEDED"
    assert words in e.value.details(), e.value.details()
    r = client.http.get(f"{client.url}/v1/sandboxes/{sandbox}/audit",
                        params={"follow": "true"}, timeout=10)
    assert r.status_code == 429, r.text
    assert words in r.json()["message"]


def test_one_tenant_holds_at_most_half_the_exec_output_budget(tenants):
    """Finished unary exec results are held until sent, against a 256 MiB server-wide
    budget: alice's results, held by clients that did not read them, spent it and every
    tenant's execs were refused. Her tenant's results hold at most half of it now."""
    alice, bob = tenants.client("alice"), tenants.client("bob")
    url = f"{alice.url}/v1/sandboxes/{started_sandbox(alice, 'held')}/exec"
    nuls = "head -c 16777216 /dev/zero; head -c 16777216 /dev/zero >&2"  # 32 MiB a result
    connections = [fresh_http(alice) for _ in range(4)]
    held = [http.post(url, json={"command": nuls}, stream=True,
                      headers={"accept-encoding": "identity"}) for http in connections]
    try:
        assert [r.status_code for r in held] == [200] * 4
        refused = alice.http.post(url, json={"command": "true"}, timeout=30)
        assert refused.status_code == 429, refused.text[:300]
        assert refused.json()["reason"] == "QUOTA_EXCEEDED"
        assert "owner team-a holds 128 MiB of command output" in refused.json()["message"]
        bob_sandbox = started_sandbox(bob, "served")
        assert bob.sandboxes.Exec(sb.ExecRequest(sandbox_id=bob_sandbox,
                                                 command="echo ok")).stdout == "ok\n"
    finally:
        for r in held:
            r.close()
        for http in connections:
            http.close()
    deadline = time.monotonic() + 10
    while (r := alice.http.post(url, json={"command": "echo again"}, timeout=30)).status_code != 200:
        assert r.status_code == 429 and time.monotonic() < deadline, r.text[:300]
        time.sleep(0.2)  # the server gives a share back once it sees the close
    assert r.json()["stdout"] == "again\n"


NULS_32_MIB = "head -c 16777216 /dev/zero; head -c 16777216 /dev/zero >&2"


def refusal_of_true(client, sandbox: str) -> str:
    """The message refusing an exec of `true` in `sandbox`; "" when it ran."""
    try:
        client.sandboxes.Exec(sb.ExecRequest(sandbox_id=sandbox, command="true"), timeout=30)
        return ""
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
        return e.details()


def wait_refused(client, sandbox: str, words: str) -> str:
    deadline = time.monotonic() + 30
    while words not in (message := refusal_of_true(client, sandbox)):
        assert time.monotonic() < deadline, f"never refused with {words!r}: {message!r}"
        time.sleep(0.3)
    return message


def test_keys_of_one_tenant_share_a_half_and_two_tenants_leave_room_for_a_third(tenants):
    """Unread exec answers hold the output budget until read or cancelled (60 s). Shares
    were per key and a fixed half: a second key of one tenant had a half of its own, and
    two tenants that kept re-sending such calls held all 256 MiB, so every other tenant's
    execs were refused for as long as they did. Shares are per owner now, each at most half
    of what the other owners leave."""
    alice, alice2, bob, carol = (tenants.client(name)
                                 for name in ("alice", "alice2", "bob", "carol"))
    team_a = started_sandbox(alice, "shared-a")
    # One exec per sandbox: execs running together in one sandbox all end before any of
    # their results is sent (each one's sync waits for the others), see docs/api.md.
    team_b = [started_sandbox(bob, f"shared-b{i}") for i in range(4)]
    server = tenants.server
    stalled = [StalledH2Client(server.grpc_port, ca=server.ca, api_key=tenants.keys[name])
               for name in ("alice", "bob")]
    try:
        for _ in range(4):  # 128 MiB of answers, never read
            stalled[0].call("/sandbox.v1.SandboxService/Exec", sb.ExecRequest(
                sandbox_id=team_a, command=NULS_32_MIB).SerializeToString())
        wait_refused(alice2, team_a, "owner team-a holds 128 MiB")  # alice2 shares it
        for sandbox in team_b:  # bob tries to take the other 128 MiB
            stalled[1].call("/sandbox.v1.SandboxService/Exec", sb.ExecRequest(
                sandbox_id=sandbox, command=NULS_32_MIB).SerializeToString())
        message = wait_refused(bob, team_b[0], "owner team-b holds")
        assert "now less: half of what other tenants leave" in message, message
        result = carol.sandboxes.Exec(sb.ExecRequest(
            sandbox_id=started_sandbox(carol, "shared-c"), command="echo served"), timeout=30)
        assert result.stdout == "served\n"
    finally:
        for client in stalled:
            client.close()
    deadline = time.monotonic() + 30
    while refusal_of_true(alice, team_a) or refusal_of_true(bob, team_b[0]):
        assert time.monotonic() < deadline, "the closed connections' answers were never given back"
        time.sleep(0.3)


def test_a_key_acting_for_two_owners_holds_one_share(tenants):
    """Memory shares counted the owner of the sandbox a call used, so one key acting for
    two owners held a share under each: in an attack sweep, 228 MB of a 256 MiB budget,
    and another tenant's large create was refused (sweep X, X2). A key's tenant is the
    owners it acts for, as for the threads: its unread results in both owners' sandboxes
    fill one share."""
    dual, carol = tenants.client("dual"), tenants.client("carol")
    sandboxes = [started_sandbox(dual, f"dual-{owner}{i}", owner)
                 for owner in ("team-d", "team-e") for i in range(2)]
    server = tenants.server
    stalled = StalledH2Client(server.grpc_port, ca=server.ca, api_key=tenants.keys["dual"])
    try:
        for sandbox in sandboxes:  # 64 MiB under each owner, 128 MiB for the key
            stalled.call("/sandbox.v1.SandboxService/Exec", sb.ExecRequest(
                sandbox_id=sandbox, command=NULS_32_MIB).SerializeToString())
        for sandbox in (sandboxes[0], sandboxes[-1]):
            wait_refused(dual, sandbox, "owners team-d,team-e holds 128 MiB")
        result = carol.sandboxes.Exec(sb.ExecRequest(
            sandbox_id=started_sandbox(carol, "dual-c"), command="echo served"), timeout=30)
        assert result.stdout == "served\n"
    finally:
        stalled.close()
    deadline = time.monotonic() + 30
    while refusal_of_true(dual, sandboxes[-1]):
        assert time.monotonic() < deadline, "the closed connection's answers were never given back"
        time.sleep(0.3)


def test_a_tenants_unread_sandbox_pages_count_against_its_share(tenants):
    """A tenant's ListSandboxes pages (up to 4 MiB of records with their rules) are made
    by its scope, not the service, and were charged to no budget: one tenant's 32 unread
    pages grew the server by 1.8 GB (sweep V, V4). They count against its share now, and
    another tenant is still served."""
    alice = tenants.client("alice")
    codebase = alice.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="pages")).id
    big = [rule("/" + f"r{i:03d}-" + "x" * 4000, "read") for i in range(100)]
    labels = {f"label{i:02d}": "v" * 1024 for i in range(64)}  # with the rules: ~470 KB
    for _ in range(10):
        alice.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
            codebase_id=codebase, permissions=big, labels=labels))
    pages = f"{alice.url}/v1/sandboxes"
    first = alice.http.get(pages, params={"codebase_id": codebase}, timeout=60)
    assert first.status_code == 200 and len(first.content) > 4 << 20, first.text[:300]
    server = tenants.server
    stalled = StalledH2Client(server.grpc_port, ca=server.ca, api_key=tenants.keys["alice"])
    request = sb.ListSandboxesRequest(codebase_id=codebase).SerializeToString()
    try:
        # A 128 MiB share holds about 14 pages charged twice 4.5 MB: far fewer than 40.
        for _ in range(40):
            stalled.call("/sandbox.v1.SandboxService/ListSandboxes", request)
            time.sleep(0.5)
            page = alice.http.get(pages, params={"codebase_id": codebase}, timeout=60)
            if page.status_code != 200:
                break
        assert page.status_code == 429, "40 unread pages, and still room for another"
        assert page.json()["reason"] == "QUOTA_EXCEEDED", page.text
        assert "ListSandboxes: owner team-a holds" in page.json()["message"], page.text
        bob_is_served(tenants)
    finally:
        stalled.close()
    deadline = time.monotonic() + 30
    while alice.http.get(pages, params={"codebase_id": codebase}, timeout=60).status_code != 200:
        assert time.monotonic() < deadline, "the closed connection's pages were never given back"
        time.sleep(0.3)


def test_follows_of_a_principal_are_bounded_by_default(tenants):
    """auth.default_quotas.concurrent_follows is 16: a key without quotas of its own
    cannot open follows without end (each costs about 3 threads and 4 descriptors)."""
    alice = tenants.client("alice")
    sandbox = started_sandbox(alice, "follows")
    streams = open_follows(alice, sandbox, 16)
    try:
        assert_follow_refused(alice, sandbox,
                              "principal alice already follows audit trails: 16 "
                              "(quotas.concurrent_follows 16)")
        bob = tenants.client("bob")
        bob_sandbox = started_sandbox(bob, "bob-follows")
        open_follows(bob, bob_sandbox, 1)[0].cancel()  # another tenant still may follow
        bob.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=bob_sandbox))
    finally:
        for stream in streams:
            stream.cancel()
    alice.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=sandbox))


def test_follows_of_the_whole_server_are_capped():
    """audit.max_follows bounds every principal's follows together: a principal without
    a follow quota stops there, and the server still starts another tenant's sandbox."""
    t = start_tenant_server({
        "greedy": {"owners": ["team-g"], "quotas": {"concurrent_follows": "0"}},
        "bob": {"owners": ["team-b"]},
    }, extra_config="audit:\n  max_follows: 5\n")
    try:
        greedy, bob = t.client("greedy"), t.client("bob")
        sandbox = started_sandbox(greedy, "cap")
        streams = open_follows(greedy, sandbox, 5)
        assert_follow_refused(greedy, sandbox,
                              "the server already has 5 audit trails followed "
                              "(audit.max_follows 5)")
        # Bob's follow is refused by the server's cap too, his other calls are served.
        bob_sandbox = started_sandbox(bob, "bob-cap")
        assert_follow_refused(bob, bob_sandbox, "(audit.max_follows 5)")
        assert bob.sandboxes.Exec(sb.ExecRequest(sandbox_id=bob_sandbox,
                                                 command="echo ok")).stdout == "ok\n"
        streams.pop().cancel()
        deadline = time.monotonic() + 10
        while True:  # the server counts the follow out once it sees the cancel
            try:
                open_follows(bob, bob_sandbox, 1)[0].cancel()
                break
            except grpc.RpcError as error:
                assert "audit.max_follows" in error.details(), error.details()
                assert time.monotonic() < deadline, "the follow was never counted out"
                time.sleep(0.2)
        for stream in streams:
            stream.cancel()
    finally:
        t.stop()
