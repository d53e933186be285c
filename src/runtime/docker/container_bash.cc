#include "runtime/docker/container_bash.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>

#include "common/errors.h"
#include "common/unique_fd.h"

namespace agentfense::runtime::docker {
namespace {

constexpr std::array kBashCandidates = {"usr/bin/bash", "bin/bash"};
constexpr const char* kCopyName = "bash";

// `path` resolved inside the tree of `root` (symlinks included), never above it.
UniqueFd open_in_root(int root, const std::string& path, int flags) {
  open_how how{};
  how.flags = static_cast<__u64>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return UniqueFd(static_cast<int>(::syscall(SYS_openat2, root, path.c_str(), &how, sizeof how)));
}

void copy_file(int from, int to, off_t size, const std::string& what) {
  off_t offset = 0;
  while (offset < size) {
    const ssize_t n = ::sendfile(to, from, &offset, static_cast<std::size_t>(size - offset));
    if (n < 0 && errno == EINTR) continue;
    check_syscall(n, "copy " + what);
    if (n == 0) throw SystemError("copy " + what + ": file shrank", EIO);
  }
}

}  // namespace

ContainerBash install_execute_only_bash(pid_t init_pid) {
  const std::string root_path = "/proc/" + std::to_string(init_pid) + "/root";
  const UniqueFd root(::open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw SystemError("open " + root_path, errno);

  UniqueFd source;
  std::string source_name;
  struct stat st {};
  for (const char* candidate : kBashCandidates) {
    UniqueFd fd = open_in_root(root.get(), candidate, O_RDONLY);
    if (fd && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
      source = std::move(fd);
      source_name = std::string("/") + candidate;
      break;
    }
  }
  if (!source)
    throw UserError("the image has no bash (/usr/bin/bash or /bin/bash); sessions need bash");

  const UniqueFd dir =
      open_in_root(root.get(), std::string(kRuntimeDir).substr(1), O_PATH | O_DIRECTORY);
  if (!dir) throw SystemError(std::string("open the container's ") + kRuntimeDir, errno);
  const UniqueFd copy(
      ::openat(dir.get(), kCopyName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700));
  if (!copy) throw SystemError(std::string("create ") + kRuntimeDir + "/" + kCopyName, errno);
  copy_file(source.get(), copy.get(), st.st_size, source_name);
  // Execute-only for everyone, root's own: mode 0111 makes exec clear "dumpable".
  check_syscall(::fchown(copy.get(), 0, 0), "chown session bash");
  check_syscall(::fchmod(copy.get(), 0111), "chmod session bash");
  return {.copy = std::string(kRuntimeDir) + "/" + kCopyName, .source = source_name};
}

}  // namespace agentfense::runtime::docker
