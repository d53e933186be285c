// The exported filter loaded directly into a forked ROOT child (no bwrap, all
// capabilities): every call below would succeed or fail differently without the
// filter, so EPERM/ENOSYS here is the filter's doing.
#include "runtime/seccomp_filter.h"

#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <vector>

namespace agentfense::runtime {
namespace {

std::vector<sock_filter> read_program() {
  const UniqueFd fd = export_seccomp_filter();
  std::vector<sock_filter> program;
  sock_filter instruction;
  while (::read(fd.get(), &instruction, sizeof instruction) == sizeof instruction)
    program.push_back(instruction);
  return program;
}

// errno of `call` in a forked child under the filter; 0 when it succeeded, -1 when the
// child did not exit normally (e.g. killed by the filter).
int errno_under_filter(const std::function<long()>& call) {
  std::vector<sock_filter> program = read_program();
  const pid_t pid = ::fork();
  if (pid == 0) {
    sock_fprog prog{static_cast<unsigned short>(program.size()), program.data()};
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) ::_exit(250);
    ::_exit(call() < 0 ? errno : 0);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

class SeccompFilter : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to show the filter is what refuses";
  }
};

TEST_F(SeccompFilter, ProgramIsNonTrivial) {
  EXPECT_GT(read_program().size(), 50u);
}

TEST_F(SeccompFilter, OrdinarySyscallsStillWork) {
  EXPECT_EQ(errno_under_filter([] { return ::getpid(); }), 0);
  EXPECT_EQ(errno_under_filter([] { return ::personality(PER_LINUX); }), 0);
  // Plain fork (clone without namespace flags) is allowed.
  EXPECT_EQ(errno_under_filter([] {
              const pid_t child = ::fork();
              if (child == 0) ::_exit(0);
              return child < 0 ? -1L : static_cast<long>(::waitpid(child, nullptr, 0));
            }),
            0);
}

TEST_F(SeccompFilter, MountFamilyIsRefused) {
  EXPECT_EQ(errno_under_filter([] { return ::mount("none", "/mnt", "tmpfs", 0, nullptr); }), EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::umount2("/", MNT_DETACH); }), EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::chroot("/"); }), EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::syscall(SYS_fsopen, "tmpfs", 0); }), EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::syscall(SYS_open_tree, -1, "/", 0); }), EPERM);
}

TEST_F(SeccompFilter, NamespacesAreRefused) {
  EXPECT_EQ(errno_under_filter([] { return ::unshare(CLONE_NEWUSER); }), EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::unshare(CLONE_NEWNS); }), EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::setns(0, 0); }), EPERM);
  for (const long flag : {CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
                          CLONE_NEWIPC, CLONE_NEWUTS}) {
    EXPECT_EQ(errno_under_filter([flag] {
                const long rc = ::syscall(SYS_clone, flag | SIGCHLD, 0, 0, 0, 0);
                if (rc == 0) ::_exit(0);
                return rc;
              }),
              EPERM)
        << flag;
  }
  EXPECT_EQ(errno_under_filter([] { return ::syscall(SYS_clone3, nullptr, 0); }), ENOSYS);
}

TEST_F(SeccompFilter, KernelAttackSurfaceIsRefused) {
  EXPECT_EQ(errno_under_filter([] { return ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr); }),
            EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::syscall(SYS_keyctl, 0 /*GET_KEYRING_ID*/, -3, 0); }),
            EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::syscall(SYS_bpf, 0, nullptr, 0); }), EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::syscall(SYS_open_by_handle_at, -1, nullptr, 0); }),
            EPERM);
  EXPECT_EQ(errno_under_filter(
                [] { return ::syscall(SYS_name_to_handle_at, -1, "/", nullptr, nullptr, 0); }),
            EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::syscall(SYS_io_uring_setup, 1, nullptr); }), EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::syscall(SYS_userfaultfd, 0); }), EPERM);
  EXPECT_EQ(
      errno_under_filter([] { return ::syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0); }),
      EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::personality(ADDR_NO_RANDOMIZE); }), EPERM);
}

TEST_F(SeccompFilter, ReachingIntoOtherProcessesIsRefused) {
  EXPECT_EQ(errno_under_filter([] { return ::syscall(SYS_pidfd_getfd, 0, 0, 0); }), EPERM);
  EXPECT_EQ(errno_under_filter([] { return ::syscall(SYS_process_madvise, 0, nullptr, 0, 0, 0); }),
            EPERM);
}

TEST_F(SeccompFilter, VsockIsAnUnknownFamily) {
  EXPECT_EQ(errno_under_filter([] { return ::socket(AF_VSOCK, SOCK_STREAM, 0); }), EAFNOSUPPORT);
  EXPECT_EQ(errno_under_filter([] {
              const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
              if (fd >= 0) ::close(fd);
              return fd;
            }),
            0);
}

TEST_F(SeccompFilter, ForeignAbiKillsTheProcess) {
  // x32 syscall numbers carry bit 30; they must not slip past the x86_64 rules.
  EXPECT_EQ(errno_under_filter([] { return ::syscall(0x40000000 | SYS_getpid); }), -1);
}

}  // namespace
}  // namespace agentfense::runtime
