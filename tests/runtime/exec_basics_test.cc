// The command contract: exit codes, separate streams, stdin, env, workdir, output cap.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "common/errors.h"
#include "runtime/command_aliases.h"
#include "sandbox_fixture.h"

namespace agentfense::runtime {
namespace {

using ExecBasics = SandboxTest;

TEST_F(ExecBasics, ExitCodesArePassedThrough) {
  EXPECT_EQ(run_shell("exit 0").exit_code, 0);
  EXPECT_EQ(run_shell("exit 3").exit_code, 3);
  EXPECT_EQ(run_shell("exit 255").exit_code, 255);
  const ExecResult killed = run_shell("kill -TERM $$");
  EXPECT_EQ(killed.exit_code, 128 + SIGTERM);
  EXPECT_FALSE(killed.timed_out);
}

TEST_F(ExecBasics, StdoutAndStderrAreKeptApart) {
  const ExecResult r = run_shell("echo out1; echo err1 >&2; printf out2; printf err2 >&2");
  EXPECT_EQ(r.stdout_data, "out1\nout2");
  EXPECT_EQ(r.stderr_data, "err1\nerr2");
  EXPECT_GT(r.duration.count(), 0);
}

TEST_F(ExecBasics, StdinIsFedAndClosed) {
  ExecSpec spec = shell("cat; echo done");
  spec.stdin_data = "line one\nline two";
  const ExecResult r = run_sandboxed(spec);
  EXPECT_EQ(r.stdout_data, "line one\nline twodone\n");
}

TEST_F(ExecBasics, LargeStdinLargerThanPipeBuffer) {
  ExecSpec spec = shell("wc -c");
  spec.stdin_data = std::string(3 << 20, 'x');
  EXPECT_EQ(run_sandboxed(spec).stdout_data, std::to_string(3 << 20) + "\n");
}

TEST_F(ExecBasics, UnreadStdinDoesNotKillTheSupervisor) {
  ExecSpec spec = shell("exit 7");  // closes stdin without reading: EPIPE, not SIGPIPE
  spec.stdin_data = std::string(8 << 20, 'x');
  EXPECT_EQ(run_sandboxed(spec).exit_code, 7);
}

TEST_F(ExecBasics, StdinIsDevNullByDefault) {
  EXPECT_EQ(run_shell("cat; echo eof").stdout_data, "eof\n");
}

TEST_F(ExecBasics, EnvIsAddedOnTopOfTheCleanBase) {
  ExecSpec spec = shell("echo \"$GREETING|$HOME|$USER|$LANG|$TERM|$PATH\"");
  spec.env = {{"GREETING", "hello world"}};
  EXPECT_EQ(run_sandboxed(spec).stdout_data,
            "hello world|/tmp|agent|C.UTF-8|dumb|"
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/run/agentfense/bin\n");
}

// Issue 11 item 6: `python main.py` as the documents write it, on a host that has only
// python3. A command the host has itself is never shadowed.
TEST_F(ExecBasics, PythonAndPipFillInForWhatTheHostLacks) {
  const std::vector<CommandAlias> aliases = missing_command_aliases();
  for (const char* name : {"python", "pip"}) {
    const bool on_host = ::access((std::string("/usr/bin/") + name).c_str(), X_OK) == 0 ||
                         ::access((std::string("/usr/local/bin/") + name).c_str(), X_OK) == 0;
    const bool target_on_host =
        ::access((std::string("/usr/bin/") + name + "3").c_str(), X_OK) == 0;
    const bool aliased = std::any_of(aliases.begin(), aliases.end(),
                                     [&](const CommandAlias& a) { return a.name == name; });
    EXPECT_EQ(aliased, !on_host && target_on_host) << name;
    const ExecResult where = run_shell(std::string("command -v ") + name);
    if (aliased) {
      EXPECT_EQ(where.stdout_data, std::string("/run/agentfense/bin/") + name + "\n");
    } else if (on_host) {
      EXPECT_EQ(where.stdout_data.rfind("/usr/", 0), 0u) << where.stdout_data;
    }
  }
  if (::access("/usr/bin/python3", X_OK) == 0) {
    const ExecResult r = run_shell("python -c 'import sys; print(40 + 2, sys.version_info[0])'");
    EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
    EXPECT_EQ(r.stdout_data, "42 3\n");
  }
  // The alias directory is part of the read-only root.
  EXPECT_NE(run_shell("ln -s /bin/true /run/agentfense/bin/x").exit_code, 0);
}

TEST_F(ExecBasics, CallersEnvironmentNeverLeaks) {
  ASSERT_EQ(::setenv("AF_LEAK_SECRET", "hunter2", 1), 0);
  const ExecResult r = run_shell("env");
  ::unsetenv("AF_LEAK_SECRET");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data.find("AF_LEAK_SECRET"), std::string::npos) << r.stdout_data;
  EXPECT_EQ(r.stdout_data.find("hunter2"), std::string::npos);
  EXPECT_NE(r.stdout_data.find("USER=agent"), std::string::npos);
}

TEST_F(ExecBasics, InvalidEnvNameIsAUserError) {
  ExecSpec spec = shell("true");
  spec.env = {{"A=B", "x"}};
  EXPECT_THROW(run_sandboxed(spec), UserError);
}

TEST_F(ExecBasics, WorkdirAbsoluteAndRelativeToWorkspace) {
  ASSERT_EQ(::mkdir((workspace_dir_ + "/sub").c_str(), 0755), 0);
  ExecSpec spec = shell("pwd; echo $PWD");
  spec.workdir = "sub";
  EXPECT_EQ(run_sandboxed(spec).stdout_data, "/workspace/sub\n/workspace/sub\n");
  spec.workdir = "/tmp";
  EXPECT_EQ(run_sandboxed(spec).stdout_data, "/tmp\n/tmp\n");
  spec.workdir = "../etc";
  EXPECT_THROW(run_sandboxed(spec), UserError);
}

TEST_F(ExecBasics, WorkspaceWritesReachTheHostAsTheSandboxUid) {
  const ExecResult r = run_shell("echo hi > /workspace/made-inside && ls -n /workspace");
  ASSERT_EQ(r.exit_code, 0) << r.stderr_data;
  struct stat st {};
  ASSERT_EQ(::stat((workspace_dir_ + "/made-inside").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, default_sandbox_ids().first);  // never root on the host
  EXPECT_EQ(st.st_gid, default_sandbox_ids().second);
}

TEST_F(ExecBasics, OutputCapTruncatesEachStreamSeparately) {
  ExecSpec spec = shell("head -c 100000 /dev/zero; echo small >&2");
  spec.output_limit = 1000;
  const ExecResult r = run_sandboxed(spec);
  EXPECT_EQ(r.exit_code, 0);  // the command ran to completion; only capture stopped
  EXPECT_EQ(r.stdout_data.size(), 1000u);
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(r.stderr_data, "small\n");
  EXPECT_FALSE(r.stderr_truncated);
}

TEST_F(ExecBasics, StreamingCallbackGetsTheOutputInsteadOfTheResult) {
  ExecSpec spec = shell("echo a; echo b >&2; echo c; head -c 3000 /dev/zero");
  spec.output_limit = 2000;
  std::string streamed_out, streamed_err;
  spec.on_output = [&](Stream s, std::string_view chunk) {
    (s == Stream::kStdout ? streamed_out : streamed_err).append(chunk);
  };
  const ExecResult r = run_sandboxed(spec);
  EXPECT_EQ(streamed_out, "a\nc\n" + std::string(1996, '\0'));  // the cap holds
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(streamed_err, "b\n");
  // Not kept a second time: a streaming server held up to the cap per stream uncounted.
  EXPECT_EQ(r.stdout_data, "");
  EXPECT_EQ(r.stderr_data, "");
}

TEST_F(ExecBasics, Python3WorksWithItsStdlib) {
  const ExecResult r =
      run_python("import json, ssl, sqlite3, sys; print(json.dumps([sys.version_info.major]))");
  EXPECT_EQ(r.stdout_data, "[3]\n") << r.stderr_data;
}

TEST_F(ExecBasics, MissingCommandIsANonZeroExit) {
  ExecSpec spec = shell("");
  spec.argv = {"no-such-command-af"};
  const ExecResult r = run_sandboxed(spec);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_data.find("no-such-command-af"), std::string::npos);
}

TEST_F(ExecBasics, EmptyArgvIsAUserError) {
  ExecSpec spec = shell("");
  spec.argv.clear();
  EXPECT_THROW(run_sandboxed(spec), UserError);
}

TEST_F(ExecBasics, NoWorkspaceStartsInTmp) {
  ExecSpec spec = shell("pwd; test -e /workspace || echo absent");
  spec.workspace_fd = -1;
  EXPECT_EQ(run_sandboxed(spec).stdout_data, "/tmp\nabsent\n");
}

TEST_F(ExecBasics, MissingWorkdirIsANonZeroExitWithBwrapsMessage) {
  ExecSpec spec = shell("true");
  spec.workdir = "no/such/dir";
  const ExecResult r = run_sandboxed(spec);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_data.find("no/such/dir"), std::string::npos) << r.stderr_data;
}

TEST_F(ExecBasics, InheritStdioUsesOurDescriptors) {
  // Route our fd 1 into a pipe for the duration of the call.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  std::fflush(stdout);
  const UniqueFd saved_stdout(::dup(STDOUT_FILENO));
  ASSERT_GE(::dup2(write_end.get(), STDOUT_FILENO), 0);
  write_end.reset();
  ExecSpec spec = shell("echo inherited");
  spec.inherit_stdio = true;
  const ExecResult r = run_sandboxed(spec);
  ASSERT_GE(::dup2(saved_stdout.get(), STDOUT_FILENO), 0);  // also closes the pipe's last writer
  char buffer[64] = {};
  ASSERT_GT(::read(read_end.get(), buffer, sizeof buffer - 1), 0);
  EXPECT_EQ(std::string(buffer), "inherited\n");
  EXPECT_EQ(r.stdout_data, "");  // nothing captured: it went to our fd 1
  EXPECT_EQ(r.exit_code, 0);
}

}  // namespace
}  // namespace agentfense::runtime
