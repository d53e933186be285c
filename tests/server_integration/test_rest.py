"""Every REST route with a real HTTP client: proto3 JSON mapping, raw file transfer,
NDJSON streams and JSON errors with HTTP codes matching the gRPC status."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from conftest import SAMPLE_FILES


@pytest.fixture
def api(server):
    return server.http + "/v1"


@pytest.fixture
def rest_codebase(api):
    r = requests.post(f"{api}/codebases", json={"name": "rest", "owner_id": f"r-{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 200, r.text
    codebase = r.json()
    for path, data in SAMPLE_FILES.items():
        put = requests.put(f"{api}/codebases/{codebase['id']}/content/{path}", data=data)
        assert put.status_code == 200, put.text
    return codebase


@pytest.fixture
def rest_sandbox(api, rest_codebase):
    body = {"codebaseId": rest_codebase["id"], "permissions": [
        {"pattern": "**", "permission": "PERMISSION_READ"},
        {"pattern": "/output/**", "permission": "PERMISSION_WRITE", "priority": 10},
        {"pattern": "**/.env*", "permission": "PERMISSION_NONE", "priority": 100},
    ]}
    r = requests.post(f"{api}/sandboxes", json=body)
    assert r.status_code == 200, r.text
    sandbox = r.json()
    assert sandbox["status"] == "SANDBOX_STATUS_PENDING"
    r = requests.post(f"{api}/sandboxes/{sandbox['id']}/start")
    assert r.status_code == 200 and r.json()["status"] == "SANDBOX_STATUS_RUNNING", r.text
    yield sandbox
    requests.delete(f"{api}/sandboxes/{sandbox['id']}")


def test_codebase_routes(api, rest_codebase):
    cid = rest_codebase["id"]
    got = requests.get(f"{api}/codebases/{cid}").json()
    assert got["ownerId"] == rest_codebase["ownerId"] and int(got["fileCount"]) == len(SAMPLE_FILES)
    listed = requests.get(f"{api}/codebases", params={"owner_id": got["ownerId"]}).json()
    assert [c["id"] for c in listed["codebases"]] == [cid]
    files = requests.get(f"{api}/codebases/{cid}/files", params={"path": "/", "recursive": "true"}).json()
    assert "/src/app.py" in {f["path"] for f in files["files"]}
    raw = requests.get(f"{api}/codebases/{cid}/content/src/app.py")
    assert raw.status_code == 200 and raw.content == SAMPLE_FILES["src/app.py"]
    big = bytes(range(256)) * 20000
    put = requests.put(f"{api}/codebases/{cid}/content/blob.bin", data=big).json()
    assert int(put["size"]) == len(big) and put["checksum"].startswith("sha256:")
    assert requests.get(f"{api}/codebases/{cid}/content/blob.bin").content == big


def test_errors_are_json_with_matching_http_codes(api, rest_codebase):
    r = requests.get(f"{api}/codebases/cb_missing")
    assert r.status_code == 404
    body = r.json()
    assert body["status"] == "NOT_FOUND" and body["reason"] == "CODEBASE_NOT_FOUND" and body["message"]
    r = requests.post(f"{api}/sandboxes", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["status"] == "INVALID_ARGUMENT"
    r = requests.post(f"{api}/sandboxes", json={"codebaseId": rest_codebase["id"],
                                               "permissions": [{"pattern": "[", "permission": "PERMISSION_READ"}]})
    assert r.status_code == 400 and r.json()["reason"] == "INVALID_RULE"
    r = requests.get(f"{api}/codebases/{rest_codebase['id']}/content/../../etc/passwd")
    assert r.status_code in (400, 404)
    assert requests.get(f"{api}/no/such/route").status_code == 404


def test_sandbox_exec_and_stream(api, rest_sandbox):
    sid = rest_sandbox["id"]
    r = requests.post(f"{api}/sandboxes/{sid}/exec", json={"command": "ls -a; exit 4"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["exitCode"] == 4 and ".env" not in result["stdout"] and "README.md" in result["stdout"]
    r = requests.post(f"{api}/sandboxes/{sid}/exec",
                      json={"command": "echo waiting; echo oops >&2; sleep 5", "timeout": "1s"})
    assert r.status_code == 504 and r.json()["reason"] == "COMMAND_TIMEOUT"
    # What it printed before the kill comes with the error (issue 15 item 5).
    partial = r.json()["result"]
    assert (partial["stdout"], partial["stderr"], partial["exitCode"]) == ("waiting\n", "oops\n", 137)
    lines = []
    with requests.post(f"{api}/sandboxes/{sid}/exec:stream", json={"command": "echo a; echo b >&2"},
                       stream=True) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line:
                lines.append(json.loads(line))
    assert lines[-1]["type"] == "OUTPUT_TYPE_EXIT" and lines[-1].get("exitCode", 0) == 0
    assert any(item["type"] == "OUTPUT_TYPE_STDERR" for item in lines)
    listed = requests.get(f"{api}/sandboxes", params={"codebase_id": rest_sandbox["codebaseId"]}).json()
    assert sid in [s["id"] for s in listed["sandboxes"]]
    stopped = requests.post(f"{api}/sandboxes/{sid}/stop").json()
    assert stopped["status"] == "SANDBOX_STATUS_STOPPED"
    r = requests.post(f"{api}/sandboxes/{sid}/exec", json={"command": "true"})
    assert r.status_code == 409 and r.json()["reason"] == "SANDBOX_NOT_RUNNING"


def test_session_routes(api, rest_sandbox):
    sid = rest_sandbox["id"]
    session = requests.post(f"{api}/sandboxes/{sid}/sessions", json={"env": {"X": "1"}}).json()
    assert session["status"] == "SESSION_STATUS_ACTIVE"
    requests.post(f"{api}/sessions/{session['id']}/exec", json={"command": "cd src"})
    r = requests.post(f"{api}/sessions/{session['id']}/exec", json={"command": "pwd; echo $X"}).json()
    assert r["stdout"] == "/workspace/src\n1\n"
    assert requests.get(f"{api}/sessions/{session['id']}").json()["id"] == session["id"]
    assert [s["id"] for s in requests.get(f"{api}/sandboxes/{sid}/sessions").json()["sessions"]] == [session["id"]]
    assert requests.delete(f"{api}/sessions/{session['id']}").status_code == 200
    closed = requests.get(f"{api}/sessions/{session['id']}").json()
    assert closed["status"] == "SESSION_STATUS_CLOSED"


def test_changes_and_file_routes(api, rest_codebase, rest_sandbox):
    sid = rest_sandbox["id"]
    put = requests.put(f"{api}/sandboxes/{sid}/content/output/r.txt", data=b"rest write")
    assert put.status_code == 200, put.text
    assert requests.get(f"{api}/codebases/{rest_codebase['id']}/content/output/r.txt").content == b"rest write"
    assert requests.get(f"{api}/sandboxes/{sid}/content/output/r.txt").content == b"rest write"
    r = requests.get(f"{api}/sandboxes/{sid}/content/.env")
    assert r.status_code == 404 and r.json()["reason"] == "FILE_NOT_FOUND"
    r = requests.put(f"{api}/sandboxes/{sid}/content/README.md", data=b"x")
    assert r.status_code == 403
    listing = requests.get(f"{api}/sandboxes/{sid}/files", params={"path": "/"}).json()
    assert ".env" not in {f["name"] for f in listing["files"]}
    assert requests.get(f"{api}/sandboxes/{sid}/changes").json().get("changes", []) == []
    assert requests.get(f"{api}/sandboxes/{sid}/diff").status_code == 200
    assert requests.post(f"{api}/sandboxes/{sid}/commit", json={}).status_code == 200
    assert requests.post(f"{api}/sandboxes/{sid}/discard").status_code == 200


def test_slow_commands_do_not_stall_other_requests(api, rest_sandbox):
    """Twenty 2-second commands at once: with a small fixed thread pool they would run in
    rounds (>= 6 s); every request gets its own thread instead."""
    import concurrent.futures
    import time
    sid = rest_sandbox["id"]
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda _: requests.post(
            f"{api}/sandboxes/{sid}/exec", json={"command": "sleep 2"}).status_code, range(20)))
    assert codes == [200] * 20
    assert time.time() - started < 4.5


def test_readme_curl_walkthrough_runs_as_pasted(server, tmp_path):
    """The README's curl walk-through, pasted into bash against this server."""
    import subprocess
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("H=http://127.0.0.1:8080/v1")
    end = readme.index("\n", readme.index("-XDELETE $H/sandboxes/$SB", start))
    script = readme[start:end].replace("127.0.0.1:8080", f"127.0.0.1:{server.http_port}")
    project = tmp_path / "some" / "project"
    project.mkdir(parents=True)
    (project / "hello.txt").write_text("hi\n")
    (tmp_path / "README.md").write_text("# pasted\n")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert '"exitCode":1' in out and "No such file" in out  # `cat .env`: hidden
    assert '"OUTPUT_TYPE_EXIT"' in out and "/workspace/output" in out
    assert '"reason":"FILE_NOT_FOUND"' in out
