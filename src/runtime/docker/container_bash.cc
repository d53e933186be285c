#include "runtime/docker/container_bash.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <string_view>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "runtime/session_source_file.h"

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

// kSessionSourceDir/bash (session_source_file.h), root's and read-only, so that the
// session driver can define its runner while sourcing a file named "bash" and bash's
// messages read "bash: line 1: ..." in a container as under bwrap.
void install_session_source(int runtime_dir) {
  const std::string name =
      std::string(kSessionSourceDir).substr(std::string(kRuntimeDir).size() + 1);
  check_syscall(::mkdirat(runtime_dir, name.c_str(), 0755),
                std::string("mkdir ") + kSessionSourceDir);
  const UniqueFd dir(
      ::openat(runtime_dir, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) throw SystemError(std::string("open ") + kSessionSourceDir, errno);
  const UniqueFd file(
      ::openat(dir.get(), "bash", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444));
  if (!file) throw SystemError(std::string("create ") + kSessionSourceDir + "/bash", errno);
  const std::string_view text = kSessionSourceText;
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(file.get(), text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    check_syscall(n, std::string("write ") + kSessionSourceDir + "/bash");
    written += static_cast<std::size_t>(n);
  }
  // Root's (the server creates it), as is the 0711 directory above: the sandbox's uid can
  // read the file but neither change it nor put another in its place.
  check_syscall(::fchown(file.get(), 0, 0), "chown session source");
}

}  // namespace

UniqueFd open_runtime_dir(const ContainerInit& init, UniqueFd* root_out) {
  const std::string root_path = "/proc/" + std::to_string(init.pid) + "/root";
  UniqueFd root(::open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw SystemError("open " + root_path, errno);
  init.check_alive("open " + root_path);  // else the pid may be another process's now
  UniqueFd dir = open_in_root(root.get(), std::string(kRuntimeDir).substr(1), O_PATH | O_DIRECTORY);
  if (!dir) throw SystemError(std::string("open the container's ") + kRuntimeDir, errno);
  if (root_out) *root_out = std::move(root);
  return dir;
}

std::string install_execute_only_copy(int runtime_dir, int source, const std::string& name) {
  struct stat st {};
  check_syscall(::fstat(source, &st), "stat the source of " + name);
  const UniqueFd copy(::openat(runtime_dir, name.c_str(),
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700));
  if (!copy) throw SystemError(std::string("create ") + kRuntimeDir + "/" + name, errno);
  copy_file(source, copy.get(), st.st_size, name);
  // Execute-only for everyone, root's own: mode 0111 makes exec clear "dumpable".
  check_syscall(::fchown(copy.get(), 0, 0), "chown " + name);
  check_syscall(::fchmod(copy.get(), 0111), "chmod " + name);
  return std::string(kRuntimeDir) + "/" + name;
}

ContainerBash install_execute_only_bash(const ContainerInit& init) {
  UniqueFd root;
  const UniqueFd dir = open_runtime_dir(init, &root);
  UniqueFd source;
  std::string source_name;
  for (const char* candidate : kBashCandidates) {
    UniqueFd fd = open_in_root(root.get(), candidate, O_RDONLY);
    struct stat st {};
    if (fd && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
      source = std::move(fd);
      source_name = std::string("/") + candidate;
      break;
    }
  }
  if (!source)
    throw UserError("the image has no bash (/usr/bin/bash or /bin/bash); sessions need bash");
  const std::string copy = install_execute_only_copy(dir.get(), source.get(), kCopyName);
  install_session_source(dir.get());
  return {.copy = copy, .source = source_name};
}

}  // namespace agentfense::runtime::docker
