"""`agentfense mcp` over stdio with the official MCP client: the handshake, every tool,
the policy through every tool, timeouts as tool errors, progress, and the review of
changes at exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from mcp_harness import (HIDDEN, TOOLS, VIEW_ONLY, stdio_session, structured, text_of)


def run_async(fn: Any) -> Any:
    return anyio.run(fn)


def test_initialize_lists_every_tool_with_input_and_output_schemas(
        agentfense: str, repo: Path, tmp_path: Path) -> None:
    async def main() -> None:
        async with stdio_session(agentfense, repo, tmp_path / "err") as session:
            result = session.initialize_result
            assert result is not None
            assert result.protocol_version == "2025-11-25"
            assert result.server_info.name == "agentfense"
            assert result.capabilities.tools is not None
            assert "/workspace" in (result.instructions or "")
            tools = (await session.list_tools()).tools
            assert [tool.name for tool in tools] == TOOLS  # no commit without --allow-commit
            for tool in tools:
                assert tool.input_schema["type"] == "object", tool.name
                assert tool.output_schema and tool.output_schema["type"] == "object", tool.name
                assert tool.description
            with pytest.raises(MCPError) as error:
                await session.call_tool("commit", {})
            assert error.value.error.code == -32602
    run_async(main)


def test_run_returns_stdout_stderr_exit_code_and_honours_workdir_env_stdin(
        agentfense: str, repo: Path, tmp_path: Path) -> None:
    async def main() -> None:
        async with stdio_session(agentfense, repo, tmp_path / "err") as session:
            out = structured(await session.call_tool("run", {
                "command": "pwd; echo \"$GREETING\"; cat; echo oops >&2; exit 3",
                "workdir": "src", "env": {"GREETING": "hi"}, "stdin": "from stdin"}))
            assert out["stdout"] == "/workspace/src\nhi\nfrom stdin"
            assert out["stderr"] == "oops\n"
            assert out["exit_code"] == 3  # a failing command is a result, not an error
            assert out["truncated"] is False and out["timed_out"] is False
            out = structured(await session.call_tool("run", {"command": "head -c 2000000 /dev/zero"}))
            assert out["truncated"] is True and len(out["stdout"]) == 1 << 20
    run_async(main)


def test_hidden_files_are_absent_through_every_tool(
        agentfense: str, repo: Path, tmp_path: Path, secret: str) -> None:
    async def main() -> None:
        async with stdio_session(agentfense, repo, tmp_path / "err") as session:
            for tool in ("run", "session_run"):
                out = structured(await session.call_tool(tool, {
                    "command": "ls -aR; grep -r SECRET . ; cat .env keys/server.key; "
                               "find /workspace -name '*.key'"}))
                seen = out["stdout"] + out["stderr"]
                assert secret not in seen
                for hidden in HIDDEN:
                    assert Path(hidden).name not in out["stdout"], (tool, hidden)
                assert "cat: .env: No such file or directory" in out["stderr"]

            absent = await session.call_tool("read_file", {"path": "no/such/file"})
            assert absent.is_error
            for hidden in HIDDEN:
                for spelling in (hidden, "/" + hidden, "/workspace/" + hidden):
                    result = await session.call_tool("read_file", {"path": spelling})
                    assert result.is_error
                    # Word for word what an absent file gets.
                    assert text_of(result) == text_of(absent).replace("/no/such/file", "/" + hidden)
                    assert result.structured_content is None

            listing = structured(await session.call_tool("list_files", {"recursive": True}))
            paths = [entry["path"] for entry in listing["entries"]]
            assert "/src/app.py" in paths and "/output/report.txt" in paths
            for hidden in HIDDEN:
                assert "/" + hidden not in paths
            assert not any(part in path for path in paths for part in ("secrets", ".key", ".env"))
            hidden_dir = await session.call_tool("list_files", {"path": "config/secrets"})
            absent_dir = await session.call_tool("list_files", {"path": "config/nothere"})
            assert hidden_dir.is_error and absent_dir.is_error
            assert text_of(hidden_dir) == text_of(absent_dir).replace("nothere", "secrets")

            # Writing a hidden path is refused as writing any non-writable path is.
            write_hidden = await session.call_tool("write_file", {"path": ".env", "content": "x"})
            write_readonly = await session.call_tool("write_file", {"path": "src/new.py",
                                                                    "content": "x"})
            assert write_hidden.is_error and write_readonly.is_error
            assert text_of(write_hidden) == text_of(write_readonly).replace("/src/new.py", "/.env")
            assert (repo / ".env").read_text().startswith(secret)

            # Deleting a directory that holds a hidden file: the review lists and diffs
            # only what the sandbox could see.
            structured(await session.call_tool("run", {"command": "rm -rf output"}))
            changes = structured(await session.call_tool("changes", {}))["changes"]
            assert {"path": "/output/report.txt", "kind": "deleted", "type": "file"} in changes
            assert all(".env" not in change["path"] for change in changes)
            diff = structured(await session.call_tool("diff", {}))["diff"]
            assert "old report" in diff and secret not in diff and ".env" not in diff
    run_async(main)


def test_view_files_are_listed_but_unreadable(
        agentfense: str, repo: Path, tmp_path: Path, secret: str) -> None:
    async def main() -> None:
        async with stdio_session(agentfense, repo, tmp_path / "err") as session:
            listing = structured(await session.call_tool("list_files", {"path": "docs"}))
            assert listing["entries"] == [{"path": "/" + VIEW_ONLY, "type": "file",
                                           "size": len(f"{secret} in {VIEW_ONLY}\n"),
                                           "level": "view"}]
            result = await session.call_tool("read_file", {"path": VIEW_ONLY})
            assert result.is_error
            assert text_of(result) == ("permission denied: the sandbox's policy does not allow "
                                       f"reading /{VIEW_ONLY}")
            out = structured(await session.call_tool("run", {"command": f"cat {VIEW_ONLY}"}))
            assert "Permission denied" in out["stderr"] and secret not in out["stdout"]
            write = await session.call_tool("write_file", {"path": VIEW_ONLY, "content": "x"})
            assert write.is_error and "permission denied" in text_of(write)
    run_async(main)


def test_list_files_levels_are_those_of_the_linked_directory(
        agentfense: str, repo: Path, tmp_path: Path) -> None:
    """Through `alias -> docs`, list_files said read for docs/private.md (view), which
    read_file then refused: the level was decided for the path as listed (attack sweep M4)."""
    (repo / "alias").symlink_to("docs")
    (repo / "out_link").symlink_to("output")
    (repo / "system").symlink_to("/usr")

    async def main() -> None:
        async with stdio_session(agentfense, repo, tmp_path / "err") as session:
            listing = structured(await session.call_tool("list_files", {"path": "alias"}))
            assert [(e["path"], e["level"]) for e in listing["entries"]] == [
                ("/alias/private.md", "view")]
            result = await session.call_tool("read_file", {"path": "alias/private.md"})
            assert result.is_error and "permission denied" in text_of(result)
            listing = structured(await session.call_tool("list_files", {"path": "out_link"}))
            assert {e["level"] for e in listing["entries"]} == {"write"}
            top = structured(await session.call_tool("list_files", {}))
            assert {e["path"]: e["level"] for e in top["entries"]}["/alias"] == "read"
            # A link out of /workspace: no policy path decides, so no level is claimed.
            outside = structured(await session.call_tool("list_files", {"path": "system"}))
            assert outside["entries"] and all("level" not in e for e in outside["entries"])
    run_async(main)


def test_read_write_and_list_files(agentfense: str, repo: Path, tmp_path: Path) -> None:
    async def main() -> None:
        async with stdio_session(agentfense, repo, tmp_path / "err") as session:
            out = structured(await session.call_tool("read_file", {"path": "/workspace/src/app.py"}))
            assert out["content"] == "print('hello from app')\n" and out["encoding"] == "utf-8"
            assert out["size"] == out["bytes"] == 24 and out["truncated"] is False
            part = structured(await session.call_tool("read_file", {"path": "src/app.py",
                                                                    "offset": 7, "max_bytes": 5}))
            assert part["content"] == "hello" and part["truncated"] is True

            out = structured(await session.call_tool("write_file", {
                "path": "output/deep/new.txt", "content": "new text"}))
            assert out == {"path": "/output/deep/new.txt", "bytes_written": 8}
            binary = bytes(range(256))
            import base64
            structured(await session.call_tool("write_file", {
                "path": "output/blob.bin", "content": base64.b64encode(binary).decode(),
                "encoding": "base64"}))
            back = structured(await session.call_tool("read_file", {"path": "output/blob.bin"}))
            assert back["encoding"] == "base64" and base64.b64decode(back["content"]) == binary
            no_parent = await session.call_tool("write_file", {
                "path": "output/none/x.txt", "content": "x", "create_dirs": False})
            assert no_parent.is_error and "no such file or directory" in text_of(no_parent)

            listing = structured(await session.call_tool("list_files", {"path": "output"}))
            assert [entry["path"] for entry in listing["entries"]] == [
                "/output/blob.bin", "/output/deep", "/output/report.txt"]
            assert {entry["level"] for entry in listing["entries"]} == {"write"}
            assert not (repo / "output" / "deep").exists()  # kept in the layer for review

            bad = await session.call_tool("read_file", {"path": "../etc/passwd"})
            assert bad.is_error and "bad path" in text_of(bad)
            unknown = await session.call_tool("read_file", {"path": "x", "colour": "red"})
            assert unknown.is_error and "unknown argument 'colour'" in text_of(unknown)
            wrong_type = await session.call_tool("run", {"command": 42})
            assert wrong_type.is_error and "'command' must be of type string" in text_of(wrong_type)
    run_async(main)


def test_session_run_keeps_the_shell_and_survives_a_timeout(
        agentfense: str, repo: Path, tmp_path: Path) -> None:
    async def main() -> None:
        async with stdio_session(agentfense, repo, tmp_path / "err") as session:
            first = structured(await session.call_tool("session_run",
                                                       {"command": "cd src && export X=42"}))
            assert first["new_session"] is True and first["session"] == "default"
            out = structured(await session.call_tool("session_run", {"command": "pwd; echo $X"}))
            assert out["stdout"] == "/workspace/src\n42\n" and out["new_session"] is False
            other = structured(await session.call_tool("session_run",
                                                       {"command": "pwd", "session": "b"}))
            assert other["stdout"] == "/workspace\n" and other["new_session"] is True

            timed_out = await session.call_tool("session_run",
                                                {"command": "sleep 30", "timeout": 1})
            assert timed_out.is_error and "timed out after 1 s" in text_of(timed_out)
            assert timed_out.structured_content and timed_out.structured_content["timed_out"]
            out = structured(await session.call_tool("session_run", {"command": "echo $X"}))
            assert out["stdout"] == "42\n" and out["new_session"] is False

            out = structured(await session.call_tool("session_run", {"command": "exit 7"}))
            assert out["exit_code"] == 7 and out["session_open"] is False
            out = structured(await session.call_tool("session_run", {"command": "echo ${X:-unset}"}))
            assert out["stdout"] == "unset\n" and out["new_session"] is True
    run_async(main)


def test_timeout_is_a_tool_error_and_kills_the_process_tree(
        agentfense: str, repo: Path, tmp_path: Path) -> None:
    async def main() -> None:
        async with stdio_session(agentfense, repo, tmp_path / "err") as session:
            result = await session.call_tool("run", {
                "command": "(sleep 60; echo late > output/late.txt) & echo started; sleep 60",
                "timeout": 1})
            assert result.is_error
            assert "timed out after 1 s" in text_of(result)
            content = result.structured_content
            assert content and content["timed_out"] is True and content["exit_code"] == 137
            assert content["stdout"] == "started\n"
            too_long = await session.call_tool("run", {"command": "true", "timeout": 10**6})
            assert too_long.is_error and "at most 1800 seconds" in text_of(too_long)
            changes = structured(await session.call_tool("changes", {}))
            assert changes["count"] == 0
    run_async(main)


def test_long_calls_send_progress_notifications(
        agentfense: str, repo: Path, tmp_path: Path) -> None:
    async def main() -> None:
        seen: list[tuple[float, Any, Any]] = []

        async def on_progress(progress: float, total: Any, message: Any) -> None:
            seen.append((progress, total, message))

        async with stdio_session(agentfense, repo, tmp_path / "err") as session:
            out = structured(await session.call_tool(
                "run", {"command": "echo begin; sleep 2.5; echo end", "timeout": 20},
                progress_callback=on_progress))
            assert out["stdout"] == "begin\nend\n"
            quick = structured(await session.call_tool("run", {"command": "true"},
                                                       progress_callback=on_progress))
            assert quick["exit_code"] == 0
        assert len(seen) >= 2, seen
        assert [p for p, _, _ in seen] == sorted(p for p, _, _ in seen)
        assert all(total == 20 for _, total, _ in seen)
        assert "kB of output" in seen[-1][2]
    run_async(main)


def test_changes_are_shown_at_exit_and_the_codebase_is_untouched(
        agentfense: str, repo: Path, tmp_path: Path) -> None:
    errlog = tmp_path / "err"

    async def main() -> None:
        async with stdio_session(agentfense, repo, errlog) as session:
            structured(await session.call_tool("write_file", {"path": "output/notes.txt",
                                                              "content": "agent notes\n"}))
            structured(await session.call_tool("run", {"command": "echo new >> output/report.txt"}))
    run_async(main)
    shown = errlog.read_text()
    assert "agentfense: 2 change(s):" in shown
    assert "A /output/notes.txt" in shown and "M /output/report.txt" in shown
    assert "+agent notes" in shown and "+new" in shown
    assert "not applied (use --changes apply)" in shown
    assert not (repo / "output" / "notes.txt").exists()
    assert (repo / "output" / "report.txt").read_text() == "old report\n"


def test_changes_apply_at_exit(agentfense: str, repo: Path, tmp_path: Path) -> None:
    errlog = tmp_path / "err"

    async def main() -> None:
        async with stdio_session(agentfense, repo, errlog, "--changes", "apply") as session:
            structured(await session.call_tool("write_file", {"path": "output/notes.txt",
                                                              "content": "kept\n"}))
    run_async(main)
    assert "applied 1 change(s)" in errlog.read_text()
    assert (repo / "output" / "notes.txt").read_text() == "kept\n"


def test_commit_and_discard_with_allow_commit(
        agentfense: str, repo: Path, tmp_path: Path, secret: str) -> None:
    errlog = tmp_path / "err"

    async def main() -> None:
        async with stdio_session(agentfense, repo, errlog, "--allow-commit") as session:
            names = [tool.name for tool in (await session.list_tools()).tools]
            assert names == TOOLS + ["commit", "discard"]
            structured(await session.call_tool("run", {
                "command": "echo one > output/one.txt; echo two > output/two.txt"}))
            out = structured(await session.call_tool("commit", {"paths": ["output/one.txt"]}))
            assert out["applied"] == ["/output/one.txt"] and out["denied"] == []
            assert (repo / "output" / "one.txt").read_text() == "one\n"
            assert not (repo / "output" / "two.txt").exists()
            out = structured(await session.call_tool("discard", {}))
            assert out["discarded"] == 1
            assert structured(await session.call_tool("changes", {}))["count"] == 0
            gone = await session.call_tool("read_file", {"path": "output/two.txt"})
            assert gone.is_error
            # The committed file is now part of the codebase the sandbox sees.
            back = structured(await session.call_tool("read_file", {"path": "output/one.txt"}))
            assert back["content"] == "one\n"
    run_async(main)
    assert "change(s)" not in errlog.read_text()  # nothing left to review at exit
    assert (repo / ".env").read_text().startswith(secret)


def test_a_name_that_is_not_utf8_is_selected_by_its_listed_quoted_form(
        agentfense: str, repo: Path, tmp_path: Path) -> None:
    """`changes` lists such a name git-quoted ("/output/caf\\377"); diff and commit took
    that as a literal name and selected nothing (an empty diff, nothing applied)."""
    errlog = tmp_path / "err"

    async def main() -> None:
        async with stdio_session(agentfense, repo, errlog, "--allow-commit",
                                 "--changes", "discard") as session:
            structured(await session.call_tool("run", {
                "command": "printf payload > output/caf$(printf '\\377'); echo b > output/b"}))
            listed = sorted(c["path"] for c in
                            structured(await session.call_tool("changes", {}))["changes"])
            assert listed == ['"/output/caf\\377"', "/output/b"]
            diff = structured(await session.call_tool("diff", {"paths": [listed[0]]}))["diff"]
            assert "payload" in diff and "output/b" not in diff
            # The /workspace/ prefix works inside the quotes too.
            out = structured(await session.call_tool(
                "commit", {"paths": ['"/workspace/output/caf\\377"']}))
            assert out["applied"] == [listed[0]], out
            bad = await session.call_tool("diff", {"paths": ['"/output/caf\\9"']})
            assert bad.is_error and "malformed quoted path" in text_of(bad)
    run_async(main)
    assert (repo / "output" / "caf\udcff").read_bytes() == b"payload"
    assert not (repo / "output" / "b").exists()
