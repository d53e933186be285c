#include "runtime/memfd.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/errors.h"

namespace agentfense::runtime {

UniqueFd create_memfd(const std::string& name) {
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) throw SystemError("memfd_create " + name, errno);
  return fd;
}

UniqueFd sealed_memfd(const std::string& name, std::string_view content) {
  UniqueFd fd = create_memfd(name);
  while (!content.empty()) {
    const ssize_t written = ::write(fd.get(), content.data(), content.size());
    if (written < 0 && errno == EINTR) continue;
    check_syscall(written, "write memfd " + name);
    content.remove_prefix(static_cast<std::size_t>(written));
  }
  seal_and_rewind(fd.get(), name);
  return fd;
}

void seal_and_rewind(int fd, const std::string& name) {
  check_syscall(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL),
                "seal memfd " + name);
  check_syscall(::lseek(fd, 0, SEEK_SET), "rewind memfd " + name);
}

}  // namespace agentfense::runtime
