// Issue 9 item 5: nothing a session command starts may report a result. The shell
// reports "command done, exit code, cwd" on a private channel; a child process, a
// background job or any other process in the sandbox that reaches that channel could
// make a failing command pass and desynchronise every later command's output. The
// attacker here is a Python child that tries every route to the shell's fds and memory
// and writes forged completion records through whatever it reaches.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "runtime/session_channel.h"
#include "runtime/shell_session.h"
#include "sandbox_fixture.h"

namespace agentfense::runtime {
namespace {

using namespace std::chrono_literals;

// argv[1]: pid of the shell (in the sandbox's pid namespace); default: the parent.
// Prints "<route> reached|blocked <detail>" for each route.
constexpr const char* kForger = R"PY(
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_getfd = 438
target = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
# Completion records for every plausible command number, in the old format and with a
# made-up nonce: exit code 0, as if each command had succeeded with no output.
records = b"".join(b"D%d 0 /workspace\0D%d 0123456789abcdef 0 /workspace\0" % (n, n)
                   for n in range(1, 100))
inject = b"2 0123456789abcdef\nexit 0\0"
def report(route, reached, detail=""):
    print(route, "reached" if reached else "blocked", detail, flush=True)
for fd in range(3, 1024):  # whatever this process inherited beyond stdio
    try:
        os.write(fd, records); report("inherited-fd", True, str(fd))
    except OSError:
        pass
try:
    names = [n for n in os.listdir(f"/proc/{target}/fd") if int(n) > 2]
    report("proc-fd-list", True, " ".join(names))
except OSError as e:
    names = []; report("proc-fd-list", False, e.strerror)
for name in names:  # the shell's fds reopened: a pipe's read end reopens as a write end
    try:
        fd = os.open(f"/proc/{target}/fd/{name}", os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, records + inject); os.close(fd); report("proc-fd-open", True, name)
    except OSError as e:
        report("proc-fd-open", False, f"{name} {e.strerror}")
try:
    pidfd = os.pidfd_open(target)
    for n in range(3, 64):
        fd = libc.syscall(SYS_pidfd_getfd, pidfd, n, 0)
        if fd >= 0:
            os.write(fd, records); report("pidfd_getfd", True, str(n))
        elif ctypes.get_errno() != 9:
            report("pidfd_getfd", False, os.strerror(ctypes.get_errno())); break
except OSError as e:
    report("pidfd_open", False, e.strerror)
for path in (f"/proc/{target}/mem", f"/proc/{target}/environ"):
    try:
        os.close(os.open(path, os.O_RDONLY)); report(path, True)
    except OSError as e:
        report(path, False, e.strerror)
)PY";

class SessionForgeryTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    if (IsSkipped()) return;
    std::ofstream(workspace_dir_ + "/forge.py") << kForger;
  }
  SessionSpec spec() const {
    SessionSpec s;
    s.workspace_fd = workspace_fd_.get();
    std::tie(s.host_uid, s.host_gid) = default_sandbox_ids();
    return s;
  }
  static ExecResult run(ShellSession& session, const std::string& command) {
    return session.exec(command, 60s);
  }
  // Every route the forger tried must have been blocked.
  static void expect_all_blocked(const std::string& report) {
    EXPECT_NE(report.find("blocked"), std::string::npos) << "the forger did not run: " << report;
    EXPECT_EQ(report.find("reached"), std::string::npos) << report;
  }
  static void expect_later_commands_are_true(ShellSession& session) {
    for (const char* word : {"hello", "again"}) {
      const ExecResult r = run(session, std::string("echo ") + word + "; false");
      EXPECT_EQ(r.stdout_data, std::string(word) + "\n") << r.stderr_data;
      EXPECT_EQ(r.exit_code, 1);
    }
  }
};

// The issue's attack: a child writing "D<n> 0 /workspace" records into the shell's
// status fd made `...; false` report 0 and every later command return empty output.
TEST_F(SessionForgeryTest, ChildProcessCannotReportAFailingCommandAsPassed) {
  ShellSession session(spec());
  const ExecResult r = run(session, "python3 /workspace/forge.py; false");
  EXPECT_EQ(r.exit_code, 1) << r.stdout_data << r.stderr_data;
  expect_all_blocked(r.stdout_data);
  expect_later_commands_are_true(session);
}

TEST_F(SessionForgeryTest, BackgroundJobCannotForgeWhileALaterCommandRuns) {
  ShellSession session(spec());
  // $$ is the shell: the job's own parent is a subshell.
  EXPECT_EQ(run(session,
                "(sleep 1; python3 /workspace/forge.py $$ >/tmp/forge.log 2>&1) "
                ">/dev/null 2>&1 &")
                .exit_code,
            0);
  const ExecResult during = run(session, "sleep 3; echo during; (exit 3)");
  EXPECT_EQ(during.exit_code, 3) << during.stderr_data;
  EXPECT_EQ(during.stdout_data, "during\n");
  expect_later_commands_are_true(session);
  expect_all_blocked(run(session, "cat /tmp/forge.log").stdout_data);
}

TEST_F(SessionForgeryTest, DetachedProcessOfAnEarlierCommandCannotForgeEither) {
  ShellSession session(spec());
  run(session, "setsid sh -c 'sleep 1; exec python3 /workspace/forge.py " +
                   std::string("$0 >/tmp/forge.log 2>&1' $$ </dev/null >/dev/null 2>&1 &"));
  EXPECT_EQ(run(session, "sleep 3; false").exit_code, 1);
  expect_later_commands_are_true(session);
  expect_all_blocked(run(session, "cat /tmp/forge.log").stdout_data);
}

// Layer by layer: the shell process is not dumpable, so same-uid processes cannot open
// its fds, memory or environment, whatever the seccomp filter allows.
TEST_F(SessionForgeryTest, TheShellProcessIsNotDumpable) {
  ShellSession session(spec());
  const ExecResult r = run(session,
                           "ls /proc/$$/fd; cat /proc/$$/environ; "
                           "python3 -c 'import os; os.open(\"/proc/'$$'/mem\", os.O_RDWR)'");
  EXPECT_EQ(r.stdout_data, "");
  EXPECT_NE(r.stderr_data.find("cannot open directory '/proc/2/fd': Permission denied"),
            std::string::npos)
      << r.stderr_data;
  EXPECT_NE(r.stderr_data.find("environ: Permission denied"), std::string::npos);
  EXPECT_NE(r.stderr_data.find("PermissionError"), std::string::npos);
  // The shell itself still works normally, own /proc entries included.
  EXPECT_EQ(run(session, "read -r x < /proc/$$/cmdline && echo ok; echo $BASH").stdout_data,
            "ok\n/bin/bash\n");
}

TEST_F(SessionForgeryTest, CommandsInheritOnlyStdio) {
  ShellSession session(spec());
  // 0-2 and the fd ls reads the directory with: not the channel, not the shell's binary.
  EXPECT_EQ(run(session, "ls /proc/self/fd").stdout_data, "0\n1\n2\n3\n");
  EXPECT_EQ(run(session, "(ls /proc/self/fd) & wait").stdout_data, "0\n1\n2\n3\n");
}

TEST_F(SessionForgeryTest, SessionEnvCannotChangeTheDriverLoop) {
  // SHELLOPTS/BASH_ENV from the caller would turn on errexit/xtrace or run a workspace
  // file inside the driver loop; they still reach the commands.
  std::ofstream(workspace_dir_ + "/env.sh") << "echo SOURCED; exit 0\n";
  SessionSpec s = spec();
  s.env = {{"SHELLOPTS", "errexit:xtrace"}, {"BASH_ENV", "/workspace/env.sh"}};
  ShellSession session(s);
  const ExecResult failing = run(session, "false");
  EXPECT_EQ(failing.exit_code, 1);
  EXPECT_EQ(failing.stderr_data, "");
  EXPECT_EQ(run(session, "echo \"$BASH_ENV\"").stdout_data, "/workspace/env.sh\n");
  EXPECT_EQ(run(session, "bash -c 'echo child'").stdout_data, "SOURCED\n");
}

// The channel on its own, with real processes: once the shell is known, bytes from any
// other writer are dropped before parsing, even a fragment meant to corrupt the
// shell's next record.
TEST(SessionChannel, OnlyTheTrustedWriterIsHeard) {
  SessionChannel channel = SessionChannel::create();
  const int status = channel.child_status_fd();
  auto write_from_child = [status](const std::string& bytes) {
    const pid_t pid = ::fork();
    if (pid == 0)
      ::_exit(::write(status, bytes.data(), bytes.size()) == ssize_t(bytes.size()) ? 0 : 1);
    int wstatus = 0;
    ::waitpid(pid, &wstatus, 0);
    return pid;
  };
  const pid_t shell = write_from_child(std::string("R\0", 2));
  std::optional<StatusMessage> ready = channel.receive();
  ASSERT_TRUE(ready && ready->kind == StatusMessage::Kind::kReady);
  EXPECT_EQ(ready->sender_pid, shell);
  channel.trust_only(shell);
  write_from_child(std::string("D1 00000000000000ab 0 /forged\0D1 ", 33));
  EXPECT_FALSE(channel.receive().has_value());
  EXPECT_EQ(channel.dropped_writes(), 1u);
  const std::string genuine = std::string("D1 00000000000000ab 7 /real\0", 28);
  ASSERT_EQ(::write(status, genuine.data(), genuine.size()), ssize_t(genuine.size()));
  // Written by us now, not by the trusted pid: dropped as well.
  EXPECT_FALSE(channel.receive().has_value());
}

TEST(SessionChannel, FramesCarryTheNonceThatTheReportEchoes) {
  EXPECT_EQ(frame_command(3, 0xab, "echo hi"), std::string("3 00000000000000ab\necho hi\0", 27));
  EXPECT_NE(new_command_nonce(), new_command_nonce());
}

}  // namespace
}  // namespace agentfense::runtime
