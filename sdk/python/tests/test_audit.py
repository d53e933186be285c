"""Sandbox.audit / audit_summary (sync and async) against the real server: typed events
of a real command, filters, follow mode, and the trail of a destroyed sandbox."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from pathlib import Path

import pytest

from agentfense import (AsyncSandbox, AuditEvent, Sandbox, SandboxClient, SandboxError,
                        SandboxNotFoundError)
from conftest import RunningServer

UTC = datetime.timezone.utc


def test_audit_sync(agentfense_server: RunningServer, project: Path) -> None:
    with Sandbox.from_local(project, preset="agent-safe",
                            endpoint=agentfense_server.endpoint) as sandbox:
        started = datetime.datetime.now(UTC) - datetime.timedelta(seconds=5)
        sandbox.run("cat .env; cat main.py")
        events = list(sandbox.audit())
        assert all(isinstance(e, AuditEvent) for e in events)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        created = events[0]
        assert (created.kind, created.op, created.outcome) == ("security", "sandbox_created",
                                                               "allowed")
        assert created.caller and created.fields["rules"]
        assert created.time >= started and created.time.tzinfo is not None

        denied = list(sandbox.audit(outcome="denied"))
        assert denied and all(e.denied for e in denied)
        hidden = [e for e in denied if e.path == "/.env"]
        assert hidden and hidden[0].reason == "hidden" and hidden[0].errno == "ENOENT"
        assert hidden[0].rule and hidden[0].rule.startswith("**/.env*")
        reads = list(sandbox.audit(op="open_read", path="/main.py"))
        assert [(e.kind, e.outcome) for e in reads] == [("file", "allowed")]
        execs = list(sandbox.audit(kind="security", op="exec"))
        assert [e.fields["command"] for e in execs] == ["cat .env; cat main.py"]
        assert execs[0].fields["exit_code"] == 0 and execs[0].fields["timed_out"] is False
        assert list(sandbox.audit(since=datetime.datetime.now(UTC)
                                  + datetime.timedelta(hours=1))) == []
        with pytest.raises(SandboxError) as raised:
            list(sandbox.audit(kind="bogus"))
        assert "kind" in str(raised.value)

        summary = sandbox.audit_summary()
        assert "/main.py" in [f["path"] for f in summary["files_read"]]
        assert "/.env" in [f["path"] for f in summary["denied"]]

        # follow: existing events first, then a live one, until we stop iterating.
        follow = sandbox.audit(follow=True, kind="security", op="exec")
        assert next(follow).fields["command"] == "cat .env; cat main.py"
        threading.Timer(0.5, lambda: sandbox.run("echo live")).start()
        live = next(follow)
        assert live.fields["command"] == "echo live"
        follow.close()
        sandbox_id = sandbox.id

    # Destroyed on leaving the block; its trail remains, ending with the destroy.
    with SandboxClient(agentfense_server.endpoint) as client:
        trail = list(client.audit_events(sandbox_id))
        assert trail[-1].op == "sandbox_destroyed"
        assert any(e.path == "/.env" for e in trail)
        with pytest.raises(SandboxNotFoundError):
            list(client.audit_events("sb_0000000000000000"))


def test_audit_async(agentfense_server: RunningServer, project: Path) -> None:
    async def scenario() -> None:
        async with await AsyncSandbox.from_local(project, preset="agent-safe",
                                                 endpoint=agentfense_server.endpoint) as sandbox:
            await sandbox.run("cat .env")
            events = [e async for e in sandbox.audit()]
            assert events[0].op == "sandbox_created"
            denied = [e async for e in sandbox.audit(outcome="denied", path="/.env")]
            assert denied and denied[0].reason == "hidden"
            summary = await sandbox.audit_summary()
            assert [c["command"] for c in summary["commands"]] == ["cat .env"]

            follow = sandbox.audit(follow=True, op="exec")
            assert (await follow.__anext__()).fields["command"] == "cat .env"
            runner = asyncio.ensure_future(sandbox.run("echo live"))
            live = await asyncio.wait_for(follow.__anext__(), timeout=30)
            assert live.fields["command"] == "echo live"
            await follow.aclose()
            await runner

    asyncio.run(scenario())
