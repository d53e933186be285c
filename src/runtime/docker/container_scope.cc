#include "runtime/docker/container_scope.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <mutex>

#include "common/errors.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "runtime/docker/container_bash.h"
#include "runtime/landlock_domain.h"

namespace agentfense::runtime::docker {
namespace {

constexpr const char* kHelperName = "agentfense-scope";

std::string host_helper_path() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw SystemError("read /proc/self/exe", error.value());
  return (self.parent_path() / kHelperName).string();
}

}  // namespace

std::string install_scope_helper(pid_t init_pid) {
  if (landlock_abi() == 0) {
    static std::once_flag warned;
    std::call_once(warned, [] {
      log::warn("docker.no_landlock",
                {{"effect",
                  "this kernel offers no Landlock: the commands and sessions of a Docker "
                  "sandbox can read and signal each other (docs/security.md)"}});
    });
    return "";
  }
  const std::string path = host_helper_path();
  const UniqueFd source(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!source)
    throw UserError("cannot open " + path + " (" + std::strerror(errno) +
                    "): the Docker runtime starts every command through it; install it "
                    "next to " +
                    std::filesystem::path(path).parent_path().string());
  const UniqueFd dir = open_runtime_dir(init_pid);
  return install_execute_only_copy(dir.get(), source.get(), "scope");
}

std::vector<std::string> scoped(const std::string& scope, std::vector<std::string> argv) {
  if (!scope.empty()) argv.insert(argv.begin(), scope);
  return argv;
}

}  // namespace agentfense::runtime::docker
