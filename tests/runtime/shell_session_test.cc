// ShellSession: state that persists across commands, the exact result contract, and
// what timeouts, `exit` and close() do to the shell and its processes. Real bwrap.
#include "runtime/shell_session.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <thread>

#include "common/errors.h"
#include "sandbox_fixture.h"

namespace agentfense::runtime {
namespace {

using namespace std::chrono_literals;

constexpr auto kNoTimeout = 0ms;
constexpr auto kTestTimeout = 60s;  // a hung command fails the test instead of blocking

class ShellSessionTest : public SandboxTest {
 protected:
  SessionSpec spec() const {
    SessionSpec s;
    s.workspace_fd = workspace_fd_.get();
    std::tie(s.host_uid, s.host_gid) = default_sandbox_ids();
    return s;
  }
  static ExecResult run(ShellSession& session, const std::string& command) {
    return session.exec(command, kTestTimeout);
  }
  static std::string out(ShellSession& session, const std::string& command) {
    const ExecResult r = run(session, command);
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.stderr_data;
    return r.stdout_data;
  }
};

// A killed process whose parent was the sandbox is reparented to the host's init and
// may linger as a zombie until reaped there: dead is what counts.
bool process_exists(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  const std::string line((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto name_end = line.rfind(')');
  return name_end != std::string::npos && line.size() > name_end + 2 && line[name_end + 2] != 'Z' &&
         line[name_end + 2] != 'X';
}

std::vector<pid_t> cgroup_members(const std::string& cgroup_dir) {
  std::vector<pid_t> pids;
  std::ifstream procs(cgroup_dir + "/cgroup.procs");
  for (pid_t pid; procs >> pid;) pids.push_back(pid);
  return pids;
}

TEST_F(ShellSessionTest, CwdVariablesAndFunctionsPersist) {
  ShellSession session(spec());
  EXPECT_EQ(out(session, "pwd"), "/workspace\n");
  EXPECT_EQ(out(session, "cd /tmp; pwd"), "/tmp\n");
  EXPECT_EQ(out(session, "pwd"), "/tmp\n");
  EXPECT_EQ(out(session, "export A=1"), "");
  EXPECT_EQ(out(session, "echo $A; sh -c 'echo child:$A'"), "1\nchild:1\n");
  EXPECT_EQ(out(session, "B=2"), "");
  EXPECT_EQ(out(session, "echo $B; sh -c 'echo child:$B'"), "2\nchild:\n");
  EXPECT_EQ(out(session, "greet() { echo \"hi $1\"; }"), "");
  EXPECT_EQ(out(session, "greet there"), "hi there\n");
}

TEST_F(ShellSessionTest, SessionEnvIsOnTopOfTheCleanBase) {
  SessionSpec s = spec();
  s.env = {{"GREETING", "hello world"}};
  ShellSession session(s);
  EXPECT_EQ(out(session, "echo \"$GREETING|$USER\""), "hello world|agent\n");
}

TEST_F(ShellSessionTest, ExitCodesAndSeparateStreams) {
  ShellSession session(spec());
  EXPECT_EQ(run(session, "false").exit_code, 1);
  EXPECT_EQ(run(session, "sh -c 'exit 7'").exit_code, 7);
  EXPECT_EQ(run(session, "(exit 255)").exit_code, 255);
  const ExecResult r = run(session, "echo out1; echo err1 >&2; printf out2; printf err2 >&2");
  EXPECT_EQ(r.stdout_data, "out1\nout2");
  EXPECT_EQ(r.stderr_data, "err1\nerr2");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_GT(r.duration.count(), 0);
}

TEST_F(ShellSessionTest, OutputShapesAndShellSyntax) {
  ShellSession session(spec());
  EXPECT_EQ(out(session, "printf abc"), "abc");
  EXPECT_EQ(out(session, "cat <<'EOF'\nline $one\nline two\nEOF"), "line $one\nline two\n");
  EXPECT_EQ(out(session, "# just a comment"), "");
  EXPECT_EQ(out(session, "for i in 1 2; do\n  echo \"n$i\" # trailing comment\ndone"), "n1\nn2\n");
  EXPECT_EQ(out(session, "echo 'a\"b' \"c'd\" \\$x"), "a\"b c'd $x\n");
}

TEST_F(ShellSessionTest, SyntaxErrorIsExitTwoAndTheSessionContinues) {
  ShellSession session(spec());
  const ExecResult bad = run(session, "if then");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.stderr_data.find("syntax error"), std::string::npos) << bad.stderr_data;
  EXPECT_EQ(bad.stdout_data, "");
  EXPECT_EQ(run(session, "echo \"unterminated").exit_code, 2);
  EXPECT_EQ(out(session, "echo ok"), "ok\n");
  EXPECT_TRUE(session.alive());
}

TEST_F(ShellSessionTest, CommandsSeeNeitherChannelFdNorStdin) {
  ShellSession session(spec());
  // ls itself holds fd 3 (the directory it lists).
  EXPECT_EQ(out(session, "ls /proc/self/fd | tr '\\n' ' '"), "0 1 2 3 ");
  EXPECT_EQ(out(session, "cat; echo eof"), "eof\n");
}

TEST_F(ShellSessionTest, LargeOutputIsCompleteWhenExecReturns) {
  ShellSession session(spec());
  std::string streamed;
  const ExecResult r = session.exec("head -c 300000 /dev/zero | tr '\\0' x; printf tail",
                                    kTestTimeout, [&](Stream s, std::string_view chunk) {
                                      if (s == Stream::kStdout) streamed.append(chunk);
                                    });
  EXPECT_EQ(streamed.size(), 300004u);
  EXPECT_TRUE(streamed.ends_with("xtail"));
  EXPECT_EQ(r.stdout_data, "");  // handed on, not kept a second time
}

TEST_F(ShellSessionTest, OutputCapPerStreamAndCommand) {
  SessionSpec s = spec();
  s.output_limit = 1000;
  ShellSession session(s);
  const ExecResult r = run(session, "head -c 100000 /dev/zero; echo small >&2");
  EXPECT_EQ(r.stdout_data.size(), 1000u);
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(r.stderr_data, "small\n");
  EXPECT_FALSE(r.stderr_truncated);
  const ExecResult next = run(session, "echo fresh");
  EXPECT_EQ(next.stdout_data, "fresh\n");
  EXPECT_FALSE(next.stdout_truncated);
}

TEST_F(ShellSessionTest, TimeoutKillsTheCommandNotTheSession) {
  ShellSession session(spec());
  out(session, "export KEPT=yes; cd /tmp; sleep 1000 &");
  const pid_t shell = session.shell_pid();
  const auto started = std::chrono::steady_clock::now();
  const ExecResult r = session.exec("echo before; sleep 100; echo after", 500ms);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_EQ(r.stdout_data, "before\n");
  EXPECT_TRUE(session.alive());
  EXPECT_EQ(session.shell_pid(), shell);  // the same shell, not a replacement
  EXPECT_EQ(out(session, "echo alive $KEPT; pwd"), "alive yes\n/tmp\n");
  // Only the shell and bwrap's two processes remain: the background job died too.
  EXPECT_EQ(cgroup_members(session.cgroup_paths().front()).size(), 3u);
}

// The server cancels a command whose client went away through cancel_fd: the command
// is abandoned as on a timeout, the session and its state stay.
TEST_F(ShellSessionTest, CancelFdAbandonsTheCommandNotTheSession) {
  ShellSession session(spec());
  out(session, "export KEPT=yes; cd /tmp");
  const pid_t shell = session.shell_pid();
  const UniqueFd cancel(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ASSERT_TRUE(cancel);
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    const std::uint64_t one = 1;
    ASSERT_EQ(::write(cancel.get(), &one, sizeof one), static_cast<ssize_t>(sizeof one));
  });
  const auto started = std::chrono::steady_clock::now();
  const ExecResult r =
      session.exec("echo before; sleep 100; export KEPT=no", kTestTimeout, {}, cancel.get());
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_TRUE(r.cancelled);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_EQ(r.stdout_data, "before\n");
  EXPECT_EQ(session.shell_pid(), shell);
  EXPECT_EQ(out(session, "echo $KEPT; pwd"), "yes\n/tmp\n");
  // Already cancelled before it starts: never runs.
  const ExecResult late = session.exec("echo ran", kTestTimeout, {}, cancel.get());
  EXPECT_TRUE(late.cancelled);
  EXPECT_EQ(late.stdout_data, "");
}

TEST_F(ShellSessionTest, BuiltinLoopTimeoutKeepsTheSameShell) {
  ShellSession session(spec());
  out(session, "cd /tmp; LOOPS=0");
  const pid_t shell = session.shell_pid();
  const ExecResult r = session.exec("while :; do LOOPS=1; done; echo after", 500ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_EQ(r.stdout_data, "");  // the rest of the command list was skipped
  ASSERT_TRUE(session.alive());
  EXPECT_EQ(session.shell_pid(), shell);
  EXPECT_EQ(out(session, "echo $LOOPS; pwd"), "1\n/tmp\n");
}

TEST_F(ShellSessionTest, StuckShellIsReplacedInTheLastCwd) {
  ShellSession session(spec());
  out(session, "cd /workspace && mkdir -p sub && cd sub");
  const pid_t shell = session.shell_pid();
  std::string streamed_err;
  // Ignoring the interrupt leaves no way back but replacing the shell.
  const ExecResult r =
      session.exec("trap '' USR1; while :; do :; done", 500ms, [&](Stream s, auto chunk) {
        if (s == Stream::kStderr) streamed_err.append(chunk);
      });
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_NE(streamed_err.find("replaced by a new shell"), std::string::npos) << streamed_err;
  EXPECT_EQ(r.stderr_data, "");  // handed on, not kept a second time
  ASSERT_TRUE(session.alive());
  EXPECT_NE(session.shell_pid(), shell);
  EXPECT_FALSE(process_exists(shell));
  EXPECT_EQ(out(session, "pwd; echo ok"), "/workspace/sub\nok\n");
}

TEST_F(ShellSessionTest, ExitEndsTheSession) {
  ShellSession session(spec());
  const ExecResult r = run(session, "echo bye; exit 3");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.stdout_data, "bye\n");
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(session.alive());
  EXPECT_THROW(run(session, "echo again"), UserError);
  EXPECT_EQ(session.shell_pid(), -1);
}

TEST_F(ShellSessionTest, ConcurrentExecsRunOneAfterTheOther) {
  ShellSession session(spec());
  // A lock directory proves no overlap: a second command entering while the first runs
  // would find it and say so.
  const std::string command =
      "mkdir /tmp/busy || echo OVERLAP; echo start-$T; sleep 0.3; echo end-$T; rmdir /tmp/busy";
  ExecResult a, b;
  std::thread first([&] { a = run(session, "T=a; " + command); });
  std::thread second([&] { b = run(session, "T=b; " + command); });
  first.join();
  second.join();
  EXPECT_EQ(a.stdout_data, "start-a\nend-a\n");
  EXPECT_EQ(b.stdout_data, "start-b\nend-b\n");
  EXPECT_EQ(a.stderr_data + b.stderr_data, "");
}

TEST_F(ShellSessionTest, CloseKillsEveryProcessAndRemovesTheCgroup) {
  ShellSession session(spec());
  out(session, "sleep 1000 & (setsid sleep 1001 &) ; sleep 0.2");
  const std::string cgroup = session.cgroup_paths().front();
  const std::vector<pid_t> members = cgroup_members(cgroup);
  EXPECT_GE(members.size(), 5u);  // bwrap x2, bash, two sleeps
  session.close();
  EXPECT_FALSE(session.alive());
  // A SIGKILLed process leaves its cgroup early in exit(), while /proc still shows it
  // running the rest of its exit: allow it a moment to finish dying, never to survive.
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  for (const pid_t pid : members) {
    while (process_exists(pid) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    EXPECT_FALSE(process_exists(pid)) << line;
  }
  EXPECT_NE(::access(cgroup.c_str(), F_OK), 0);
  EXPECT_THROW(run(session, "true"), UserError);
  session.close();  // idempotent
}

// The session's cgroup counts for all its commands: each result reports only what its
// own command did.
TEST_F(ShellSessionTest, LimitHitsAreReportedForTheCommandThatHitThem) {
  SessionSpec s = spec();
  s.limits = {.memory_bytes = 96 << 20, .pids_limit = 32};
  ShellSession session(s);
  const ExecResult hungry = run(session, "python3 -c \"b = b'x' * (300 << 20)\"");
  EXPECT_EQ(hungry.exit_code, 137) << hungry.stderr_data;
  EXPECT_TRUE(hungry.oom_killed);
  EXPECT_FALSE(hungry.pids_limit_reached);
  const ExecResult after = run(session, "echo still here");
  EXPECT_EQ(after.stdout_data, "still here\n");
  EXPECT_FALSE(after.oom_killed);  // the earlier kill is not this command's
  // Forks until refused, then ends its children itself: the shell stays usable.
  const ExecResult forks = run(session,
                               "python3 -c 'import os, signal, time\n"
                               "kids = []\n"
                               "try:\n"
                               "    while len(kids) < 100:\n"
                               "        pid = os.fork()\n"
                               "        if pid == 0:\n"
                               "            time.sleep(30); os._exit(0)\n"
                               "        kids.append(pid)\n"
                               "except OSError:\n"
                               "    pass\n"
                               "for pid in kids: os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)\n"
                               "print(len(kids))'");
  EXPECT_LT(std::stoi(forks.stdout_data.empty() ? "999" : forks.stdout_data), 32)
      << forks.stderr_data;
  EXPECT_TRUE(forks.pids_limit_reached) << forks.stderr_data;
  EXPECT_FALSE(forks.oom_killed);
  const ExecResult calm = run(session, "true");
  EXPECT_FALSE(calm.pids_limit_reached);
  EXPECT_FALSE(calm.oom_killed);
}

TEST_F(ShellSessionTest, CloseFromAnotherThreadAbortsARunningExec) {
  ShellSession session(spec());
  ExecResult r;
  std::thread runner([&] { r = session.exec("sleep 1000", kNoTimeout); });
  std::this_thread::sleep_for(300ms);
  session.close();
  runner.join();
  EXPECT_EQ(r.exit_code, 137);
  EXPECT_FALSE(session.alive());
}

TEST_F(ShellSessionTest, InvalidRequestsAreUserErrors) {
  for (const char* shell : {"/bin/zsh", "/bin/dash", "/tmp/sh", "sh -c", ""}) {
    SessionSpec s = spec();
    s.shell = shell;
    EXPECT_THROW(ShellSession{s}, UserError) << shell;
  }
  ShellSession session(spec());
  EXPECT_THROW(run(session, std::string("echo a\0b", 8)), UserError);
  EXPECT_THROW(session.exec("true", -1ms), UserError);
  EXPECT_EQ(out(session, "echo still"), "still\n");
}

}  // namespace
}  // namespace agentfense::runtime

namespace agentfense::runtime {
namespace {

// Issue 11 item 7: clients of the original API open sessions with /bin/sh; every name
// runs the same bash driver with the same guarantees.
TEST_F(ShellSessionTest, ShNamesRunTheSameBashSession) {
  for (const char* shell : {"sh", "/bin/sh", "/usr/bin/sh", "bash", "/bin/bash", "/usr/bin/bash"}) {
    SCOPED_TRACE(shell);
    SessionSpec s = spec();
    s.shell = shell;
    ShellSession session(s);
    EXPECT_EQ(out(session, "cd /tmp; X=1; f() { echo fn; }"), "");
    EXPECT_EQ(out(session, "echo $PWD $X $BASH; f; [[ -o posix ]] || echo not-posix"),
              "/tmp 1 /bin/bash\nfn\nnot-posix\n");
    EXPECT_EQ(run(session, "(exit 42)").exit_code, 42);
    const ExecResult timed_out = session.exec("sleep 30", 300ms);
    EXPECT_EQ(timed_out.exit_code, 137);
    EXPECT_EQ(out(session, "echo $PWD $X"), "/tmp 1\n");
  }
}

// Issue 11 item 6: error lines name the shell and the line of the command text, as bash
// does for a script ("bash: line 3: ..."), never "environment: line 4: ...".
TEST_F(ShellSessionTest, ErrorLinesNameBashAndTheCommandsLine) {
  ShellSession session(spec());
  ExecResult r = run(session, "nosuch-command");
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(r.stderr_data, "bash: line 1: nosuch-command: command not found\n");
  r = run(session, "echo ok\n\ncd /nonexistent");
  EXPECT_EQ(r.stdout_data, "ok\n");
  EXPECT_EQ(r.stderr_data, "bash: line 3: cd: /nonexistent: No such file or directory\n");
  r = run(session, "f() { nosuch-in-function; }; f");
  EXPECT_EQ(r.stderr_data, "bash: line 1: nosuch-in-function: command not found\n");
  r = run(session, "if then");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.stderr_data.rfind("bash: ", 0), 0u) << r.stderr_data;
  EXPECT_EQ(r.stderr_data.find("environment"), std::string::npos) << r.stderr_data;
}

TEST_F(ShellSessionTest, DefiningTheRunnerLeavesNoTrace) {
  SessionSpec s = spec();
  s.workdir = "/workspace";
  ShellSession session(s);
  // Where the session started, OLDPWD unset as in a fresh bash (and still exported once
  // set), sourcepath on, none of the driver's helper variables left.
  EXPECT_EQ(out(session,
                "echo \"$PWD|${OLDPWD-unset}|$(shopt -p sourcepath)|${__af_define-}"
                "${__af_pwd-}${__af_oldpwd-}\""),
            "/workspace|unset|shopt -s sourcepath|\n");
  EXPECT_EQ(out(session, "cd /tmp && cd /workspace && sh -c 'echo $OLDPWD'"), "/tmp\n");
  // The file it came from is the runtime's, read-only.
  EXPECT_EQ(out(session, "cat /run/agentfense/session/bash"), "builtin eval \"$__af_define\"\n");
  EXPECT_NE(run(session, "echo x > /run/agentfense/session/bash").exit_code, 0);
  EXPECT_NE(run(session, "touch /run/agentfense/session/other").exit_code, 0);
}

}  // namespace
}  // namespace agentfense::runtime
