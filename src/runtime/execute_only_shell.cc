#include "runtime/execute_only_shell.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mutex>

#include "common/errors.h"
#include "common/session_shells.h"
#include "common/unique_fd.h"

namespace agentfense::runtime {
namespace {

constexpr const char* kBashPath = "/usr/bin/bash";
// MFD_EXEC (Linux 6.3, not in glibc 2.36's headers): ask for an executable memfd
// explicitly, which a vm.memfd_noexec=1 host would otherwise not give.
constexpr unsigned kMfdExec = 0x0010U;

void copy_all(const char* path, int from, int to) {
  char buffer[1 << 16];
  for (;;) {
    const ssize_t got = ::read(from, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    check_syscall(got, std::string("read ") + path);
    if (got == 0) return;
    for (ssize_t done = 0; done < got;) {
      const ssize_t wrote = ::write(to, buffer + done, static_cast<std::size_t>(got - done));
      if (wrote < 0 && errno == EINTR) continue;
      check_syscall(wrote, "write memfd");
      done += wrote;
    }
  }
}

}  // namespace

UniqueFd make_execute_only_copy(const char* path, const char* name) {
  const UniqueFd source(::open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!source) throw SystemError(std::string("open ") + path, errno);
  UniqueFd copy(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | kMfdExec));
  // Kernels before 6.3 reject the flag they do not know; their memfds are executable.
  if (!copy && errno == EINVAL) copy.reset(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!copy) throw SystemError(std::string("memfd_create ") + name, errno);
  copy_all(path, source.get(), copy.get());
  check_syscall(
      ::fcntl(copy.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL),
      std::string("seal ") + name);
  // exec refuses a file someone holds open for writing (ETXTBSY): keep a read-only fd,
  // opened while the mode still allows it; the writable one closes on return.
  const std::string self = "/proc/self/fd/" + std::to_string(copy.get());
  UniqueFd read_only(::open(self.c_str(), O_RDONLY | O_CLOEXEC));
  if (!read_only) throw SystemError(std::string("reopen read-only ") + name, errno);
  check_syscall(::fchmod(read_only.get(), 0111), std::string("chmod ") + name);
  return read_only;
}

std::string session_shell_path(const std::string& requested) {
  if (is_session_shell_name(requested)) return kBashPath;
  throw UserError("session shell must be one of " + std::string(session_shell_list()) +
                  " (all run bash), not '" + requested + "'");
}

int execute_only_copy_of_bash() {
  // Made under a lock on first use; a failure is retried by the next session.
  static std::mutex mutex;
  static UniqueFd copy;
  const std::lock_guard lock(mutex);
  if (!copy) copy = make_execute_only_copy(kBashPath, "agentfense-bash");
  return copy.get();
}

}  // namespace agentfense::runtime
