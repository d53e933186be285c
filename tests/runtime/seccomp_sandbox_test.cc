// The same attacks from inside a real sandbox, with the tools an agent would use.
#include "sandbox_fixture.h"

namespace agentfense::runtime {
namespace {

using SeccompInSandbox = SandboxTest;

// Prints the errno of a raw syscall made through ctypes (0 = succeeded).
std::string errno_of(const std::string& call) {
  return "import ctypes, os\n"
         "libc = ctypes.CDLL(None, use_errno=True)\n"
         "rc = " +
         call +
         "\n"
         "print(0 if rc >= 0 else ctypes.get_errno())\n";
}

constexpr int kEperm = 1;

TEST_F(SeccompInSandbox, RawSyscallsGetEperm) {
  const struct {
    const char* name;
    const char* call;
  } attacks[] = {
      {"mount", "libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)"},
      {"unshare(CLONE_NEWUSER)", "libc.unshare(0x10000000)"},
      {"ptrace(TRACEME)", "libc.ptrace(0, 0, None, None)"},
      {"keyctl", "libc.syscall(250, 0, -3, 0)"},
      {"open_by_handle_at", "libc.syscall(304, -100, None, 0)"},
      {"bpf", "libc.syscall(321, 0, None, 0)"},
  };
  for (const auto& attack : attacks) {
    const ExecResult r = run_python(errno_of(attack.call));
    EXPECT_EQ(r.stdout_data, std::to_string(kEperm) + "\n") << attack.name << ": " << r.stderr_data;
  }
}

TEST_F(SeccompInSandbox, UnshareAndMountToolsFail) {
  const ExecResult r =
      run_shell("unshare -U true; echo rc=$?; mount -t tmpfs none /tmp; echo rc=$?");
  EXPECT_NE(r.stdout_data.find("rc=1\n"), std::string::npos);
  EXPECT_EQ(r.stdout_data.find("rc=0"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stderr_data.find("Operation not permitted"), std::string::npos) << r.stderr_data;
}

TEST_F(SeccompInSandbox, StraceCannotAttach) {
  const ExecResult r = run_shell("sleep 5 & strace -p $! -o /dev/null; echo rc=$?; kill $!");
  EXPECT_EQ(r.stdout_data.find("rc=0"), std::string::npos) << r.stdout_data;
  EXPECT_NE(r.stderr_data.find("Operation not permitted"), std::string::npos) << r.stderr_data;
}

TEST_F(SeccompInSandbox, ThreadsAndSubprocessesStillWork) {
  const ExecResult r = run_python(
      "import threading, subprocess\n"
      "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
      "print(subprocess.run(['echo', 'child'], capture_output=True, text=True).stdout, end='')\n");
  EXPECT_EQ(r.stdout_data, "child\n") << r.stderr_data;
}

}  // namespace
}  // namespace agentfense::runtime
