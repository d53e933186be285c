"""Issue 10 item 3: every RPC and every REST route is scoped to the caller's owners. Two
user principals (alice: team-a, bob: team-b) and an admin share one server over TLS. Every
call alice makes on bob's codebase, sandbox or session answers NOT_FOUND exactly as an id
that does not exist does (same status, message and reason), and changes nothing of bob's.

The attack, as the issue wrote it: any client could list every owner's codebases, read
their .env through the raw content route, create a `**=read` sandbox on someone else's
codebase and run commands in it."""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import tarfile

import grpc
import pytest

from server_harness import AGENT_SAFE, agentfense_bin, cb, common, reason_of, rule, sb
from tenants import start_tenant_server

SECRET = f"TOKEN=bob-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def tenants(import_root):
    t = start_tenant_server(
        {"alice": {"owners": ["team-a"]}, "bob": {"owners": ["team-b"]},
         "both": {"owners": ["team-a", "team-b"]}, "admin": {"role": "admin"}},
        extra_config=f"storage:\n  import_roots: [{import_root}]\n")
    yield t
    t.stop()


@pytest.fixture(scope="module")
def bobs(tenants):
    """bob's codebase (with a .env), a running sandbox over it, and an open session."""
    bob = tenants.client("bob")
    codebase = bob.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="bobs"))
    assert codebase.owner_id == "team-b"  # bob's single owner, without asking
    for path, data in (("README.md", b"# bob\n"), (".env", SECRET.encode())):
        upload(bob, codebase.id, path, data)
    sandbox = bob.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
        codebase_id=codebase.id, permissions=AGENT_SAFE))
    bob.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=sandbox.id))
    session = bob.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=sandbox.id))
    return {"codebase": codebase.id, "sandbox": sandbox.id, "session": session.id}


def upload(client, codebase_id: str, path: str, data: bytes):
    def chunks():
        yield cb.UploadChunk(metadata=cb.UploadChunk.Metadata(
            codebase_id=codebase_id, file_path=path, total_size=len(data)))
        yield cb.UploadChunk(data=data)
    return client.codebases.UploadFiles(chunks())


def missing_twin(real_id: str) -> str:
    """An id of the same shape that does not exist."""
    prefix = real_id.split("_", 1)[0]
    return f"{prefix}_{secrets.token_hex(8)}"


def tar_of(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


# Every RPC that names a resource: (kind, name, call(client, id)). Streams are drained.
def _drain(stream):
    return list(stream)


GRPC_CALLS = [
    ("codebase", "GetCodebase", lambda c, i: c.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=i))),
    ("codebase", "DeleteCodebase", lambda c, i: c.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=i))),
    ("codebase", "ListFiles", lambda c, i: c.codebases.ListFiles(cb.ListFilesRequest(codebase_id=i, path="/", recursive=True))),
    ("codebase", "DownloadFile", lambda c, i: _drain(c.codebases.DownloadFile(cb.DownloadFileRequest(codebase_id=i, file_path="/.env")))),
    ("codebase", "UploadFiles", lambda c, i: upload(c, i, "/planted.txt", b"x")),
    ("codebase", "UploadArchive", lambda c, i: c.codebases.UploadArchive(iter([
        cb.ArchiveChunk(metadata=cb.ArchiveChunk.Metadata(codebase_id=i, path="/")),
        cb.ArchiveChunk(data=tar_of("planted.txt", b"x"))]))),
    ("codebase", "CreateSandbox", lambda c, i: c.sandboxes.CreateSandbox(sb.CreateSandboxRequest(
        codebase_id=i, permissions=[rule("**", "read")]))),
    ("sandbox", "GetSandbox", lambda c, i: c.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=i))),
    ("sandbox", "StartSandbox", lambda c, i: c.sandboxes.StartSandbox(sb.StartSandboxRequest(sandbox_id=i))),
    ("sandbox", "StopSandbox", lambda c, i: c.sandboxes.StopSandbox(sb.StopSandboxRequest(sandbox_id=i))),
    ("sandbox", "Exec", lambda c, i: c.sandboxes.Exec(sb.ExecRequest(sandbox_id=i, command="cat README.md"))),
    ("sandbox", "ExecStream", lambda c, i: _drain(c.sandboxes.ExecStream(sb.ExecRequest(sandbox_id=i, command="id")))),
    ("sandbox", "CreateSession", lambda c, i: c.sandboxes.CreateSession(sb.CreateSessionRequest(sandbox_id=i))),
    ("sandbox", "ListSessions", lambda c, i: c.sandboxes.ListSessions(sb.ListSessionsRequest(sandbox_id=i))),
    ("sandbox", "ListChanges", lambda c, i: c.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=i))),
    ("sandbox", "DiffChanges", lambda c, i: c.sandboxes.DiffChanges(sb.DiffChangesRequest(sandbox_id=i))),
    ("sandbox", "CommitChanges", lambda c, i: c.sandboxes.CommitChanges(sb.CommitChangesRequest(sandbox_id=i))),
    ("sandbox", "DiscardChanges", lambda c, i: c.sandboxes.DiscardChanges(sb.DiscardChangesRequest(sandbox_id=i))),
    ("sandbox", "ReadSandboxFile", lambda c, i: c.sandboxes.ReadSandboxFile(sb.ReadSandboxFileRequest(sandbox_id=i, path="/README.md"))),
    ("sandbox", "WriteSandboxFile", lambda c, i: c.sandboxes.WriteSandboxFile(sb.WriteSandboxFileRequest(sandbox_id=i, path="/output/x", content=b"x"))),
    ("sandbox", "ListSandboxFiles", lambda c, i: c.sandboxes.ListSandboxFiles(sb.ListSandboxFilesRequest(sandbox_id=i, path="/"))),
    ("sandbox", "DestroySandbox", lambda c, i: c.sandboxes.DestroySandbox(sb.DestroySandboxRequest(sandbox_id=i))),
    ("session", "GetSession", lambda c, i: c.sandboxes.GetSession(sb.GetSessionRequest(session_id=i))),
    ("session", "SessionExec", lambda c, i: c.sandboxes.SessionExec(sb.SessionExecRequest(session_id=i, command="pwd"))),
    ("session", "SessionExecStream", lambda c, i: _drain(c.sandboxes.SessionExecStream(sb.SessionExecRequest(session_id=i, command="pwd")))),
    ("session", "DestroySession", lambda c, i: c.sandboxes.DestroySession(sb.DestroySessionRequest(session_id=i))),
]


def refusal(call, client, resource_id: str) -> tuple:
    with pytest.raises(grpc.RpcError) as error:
        call(client, resource_id)
    e = error.value
    return e.code(), e.details().replace(resource_id, "<ID>"), reason_of(e)


def assert_bob_untouched(tenants, bobs) -> None:
    bob = tenants.client("bob")
    got = b"".join(c.data for c in bob.codebases.DownloadFile(
        cb.DownloadFileRequest(codebase_id=bobs["codebase"], file_path="/.env")))
    assert got == SECRET.encode()
    files = {f.path for f in bob.codebases.ListFiles(cb.ListFilesRequest(
        codebase_id=bobs["codebase"], path="/", recursive=True)).files}
    assert files == {"/README.md", "/.env"}, files
    sandbox = bob.sandboxes.GetSandbox(sb.GetSandboxRequest(sandbox_id=bobs["sandbox"]))
    assert sandbox.status == common.SANDBOX_STATUS_RUNNING
    sessions = bob.sandboxes.ListSessions(sb.ListSessionsRequest(sandbox_id=bobs["sandbox"])).sessions
    assert [s.status for s in sessions] == [common.SESSION_STATUS_ACTIVE]
    assert bob.sandboxes.SessionExec(sb.SessionExecRequest(
        session_id=bobs["session"], command="echo alive")).stdout == "alive\n"
    assert not bob.sandboxes.ListChanges(sb.ListChangesRequest(sandbox_id=bobs["sandbox"])).changes
    assert len(bob.sandboxes.ListSandboxes(sb.ListSandboxesRequest()).sandboxes) == 1


@pytest.mark.parametrize("kind,name,call", GRPC_CALLS, ids=[f"{c[1]}" for c in GRPC_CALLS])
def test_every_rpc_on_another_tenants_id_answers_like_a_missing_id(tenants, bobs, kind, name, call):
    alice = tenants.client("alice")
    foreign = refusal(call, alice, bobs[kind])
    missing = refusal(call, alice, missing_twin(bobs[kind]))
    assert foreign == missing
    assert foreign[0] == grpc.StatusCode.NOT_FOUND, foreign
    assert foreign[2] == f"{kind.upper()}_NOT_FOUND"
    assert_bob_untouched(tenants, bobs)


REST_ROUTES = [
    ("codebase", "GET", "/v1/codebases/{}", None),
    ("codebase", "DELETE", "/v1/codebases/{}", None),
    ("codebase", "GET", "/v1/codebases/{}/files?recursive=true", None),
    ("codebase", "GET", "/v1/codebases/{}/content/.env", None),
    ("codebase", "PUT", "/v1/codebases/{}/content/planted.txt", b"x"),
    ("codebase", "POST", "/v1/codebases/{}/archive", tar_of("planted.txt", b"x")),
    ("codebase", "POST", "/v1/sandboxes", "create"),
    ("sandbox", "GET", "/v1/sandboxes/{}", None),
    ("sandbox", "POST", "/v1/sandboxes/{}/start", None),
    ("sandbox", "POST", "/v1/sandboxes/{}/stop", None),
    ("sandbox", "POST", "/v1/sandboxes/{}/exec", {"command": "cat README.md"}),
    ("sandbox", "POST", "/v1/sandboxes/{}/exec:stream", {"command": "id"}),
    ("sandbox", "POST", "/v1/sandboxes/{}/sessions", {}),
    ("sandbox", "GET", "/v1/sandboxes/{}/sessions", None),
    ("sandbox", "GET", "/v1/sandboxes/{}/changes", None),
    ("sandbox", "GET", "/v1/sandboxes/{}/diff", None),
    ("sandbox", "POST", "/v1/sandboxes/{}/commit", {}),
    ("sandbox", "POST", "/v1/sandboxes/{}/discard", {}),
    ("sandbox", "GET", "/v1/sandboxes/{}/files", None),
    ("sandbox", "GET", "/v1/sandboxes/{}/content/README.md", None),
    ("sandbox", "PUT", "/v1/sandboxes/{}/content/output/x", b"x"),
    ("sandbox", "DELETE", "/v1/sandboxes/{}", None),
    ("session", "GET", "/v1/sessions/{}", None),
    ("session", "POST", "/v1/sessions/{}/exec", {"command": "pwd"}),
    ("session", "POST", "/v1/sessions/{}/exec:stream", {"command": "pwd"}),
    ("session", "DELETE", "/v1/sessions/{}", None),
]


def rest_refusal(client, method: str, path: str, body, resource_id: str) -> tuple:
    url = client.url + path.format(resource_id)
    if body == "create":
        r = client.http.post(url, json={"codebaseId": resource_id, "permissions": [
            {"pattern": "**", "permission": "PERMISSION_READ"}]})
    elif isinstance(body, bytes):
        r = client.http.request(method, url, data=body)
    else:
        r = client.http.request(method, url, json=body)
    return r.status_code, r.text.replace(resource_id, "<ID>")


@pytest.mark.parametrize("kind,method,path,body", REST_ROUTES,
                         ids=[f"{r[1]} {r[2]}" for r in REST_ROUTES])
def test_every_route_on_another_tenants_id_answers_like_a_missing_id(tenants, bobs, kind, method,
                                                                     path, body):
    alice = tenants.client("alice")
    foreign = rest_refusal(alice, method, path, body, bobs[kind])
    missing = rest_refusal(alice, method, path, body, missing_twin(bobs[kind]))
    assert foreign == missing
    assert foreign[0] == 404 and f'"reason":"{kind.upper()}_NOT_FOUND"' in foreign[1], foreign
    assert_bob_untouched(tenants, bobs)


def test_listings_show_only_the_callers_owners(tenants, bobs):
    alice, both, admin = (tenants.client(n) for n in ("alice", "both", "admin"))
    mine = alice.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="alices"))
    assert mine.owner_id == "team-a"
    listed = {c.id for c in alice.codebases.ListCodebases(cb.ListCodebasesRequest()).codebases}
    assert mine.id in listed and bobs["codebase"] not in listed
    assert bobs["sandbox"] not in {s.id for s in alice.sandboxes.ListSandboxes(
        sb.ListSandboxesRequest()).sandboxes}
    # Naming bob's codebase lists nothing, exactly as a codebase that does not exist.
    assert not alice.sandboxes.ListSandboxes(sb.ListSandboxesRequest(
        codebase_id=bobs["codebase"])).sandboxes
    with pytest.raises(grpc.RpcError) as e:
        alice.codebases.ListCodebases(cb.ListCodebasesRequest(owner_id="team-b"))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    r = alice.http.get(f"{alice.url}/v1/codebases")
    assert r.status_code == 200 and bobs["codebase"] not in r.text and mine.id in r.text
    assert bobs["sandbox"] not in alice.http.get(f"{alice.url}/v1/sandboxes").text
    # A principal acting for both teams sees both; the admin sees everything.
    both_listed = {c.id for c in both.codebases.ListCodebases(cb.ListCodebasesRequest()).codebases}
    assert {mine.id, bobs["codebase"]} <= both_listed
    admin_listed = {c.id for c in admin.codebases.ListCodebases(cb.ListCodebasesRequest()).codebases}
    assert {mine.id, bobs["codebase"]} <= admin_listed
    alice.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=mine.id))


def test_owner_id_is_checked_not_trusted(tenants):
    alice, both = tenants.client("alice"), tenants.client("both")
    with pytest.raises(grpc.RpcError) as e:
        alice.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="x", owner_id="team-b"))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED and "team-b" in e.value.details()
    r = alice.http.post(f"{alice.url}/v1/codebases", json={"name": "x", "ownerId": "team-b"})
    assert r.status_code == 403, r.text
    # Several owners: the caller must say which.
    with pytest.raises(grpc.RpcError) as e:
        both.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="x"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "owner_id" in e.value.details()
    made = both.codebases.CreateCodebase(cb.CreateCodebaseRequest(name="x", owner_id="team-b"))
    assert made.owner_id == "team-b"
    both.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=made.id))
    created = {c.name for c in tenants.client("admin").codebases.ListCodebases(
        cb.ListCodebasesRequest(owner_id="team-b")).codebases}
    assert "x" not in created  # alice's refused creations left nothing


def test_import_directory_is_admin_only(tenants, import_root):
    alice, admin = tenants.client("alice"), tenants.client("admin")
    request = cb.ImportDirectoryRequest(name="imp", path=import_root, owner_id="team-a")
    with pytest.raises(grpc.RpcError) as e:
        alice.codebases.ImportDirectory(request)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED and "admin" in e.value.details()
    r = alice.http.post(f"{alice.url}/v1/codebases:import",
                        json={"name": "imp", "path": import_root})
    assert r.status_code == 403, r.text
    imported = admin.codebases.ImportDirectory(request)
    assert imported.owner_id == "team-a"
    # It belongs to team-a: alice sees it now.
    assert alice.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=imported.id)).name == "imp"
    admin.codebases.DeleteCodebase(cb.DeleteCodebaseRequest(codebase_id=imported.id))


def test_admin_reaches_every_tenant(tenants, bobs):
    admin = tenants.client("admin")
    result = admin.sandboxes.Exec(sb.ExecRequest(sandbox_id=bobs["sandbox"], command="cat README.md"))
    assert result.stdout == "# bob\n"
    assert admin.codebases.GetCodebase(cb.GetCodebaseRequest(codebase_id=bobs["codebase"])).owner_id == "team-b"


def test_same_owner_principals_share_resources(tenants, bobs):
    both = tenants.client("both")
    result = both.sandboxes.Exec(sb.ExecRequest(sandbox_id=bobs["sandbox"], command="cat README.md"))
    assert result.exit_code == 0 and result.stdout == "# bob\n"


def test_audit_cli_reads_a_trail_over_tls_with_the_owners_key_only(tenants, bobs):
    """`agentfense audit --server` takes the key as `agentfense mcp` does (--api-key or
    $AGENTFENSE_API_KEY; the first version's --token still works) and trusts --ca-cert;
    another tenant's key gets the trail refused as if the sandbox did not exist."""
    server = tenants.server
    base = [agentfense_bin(), "audit", "--server", server.http, "--sandbox", bobs["sandbox"],
            "--ca-cert", server.ca_path]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFENSE_")}

    def audit(*extra, key_env=None):
        run_env = dict(env, **({"AGENTFENSE_API_KEY": key_env} if key_env else {}))
        return subprocess.run(base + list(extra), capture_output=True, text=True, timeout=60,
                              env=run_env)

    for done in (audit("--api-key", tenants.keys["bob"]), audit(key_env=tenants.keys["bob"]),
                 audit("--token", tenants.keys["bob"])):
        assert done.returncode == 0, done.stderr
        assert "sandbox_created caller=bob" in done.stdout, done.stdout[:2000]
    refused = audit("--api-key", tenants.keys["alice"])
    assert refused.returncode != 0 and "not found" in refused.stderr.lower(), refused.stderr
    assert SECRET not in refused.stdout + refused.stderr
    untrusted = subprocess.run(base[:-2] + ["--api-key", tenants.keys["bob"]],
                               capture_output=True, text=True, timeout=60, env=env)
    assert untrusted.returncode != 0 and "certificate" in untrusted.stderr.lower(), untrusted.stderr
