#include "runtime/docker/container_scope.h"

#include <fcntl.h>

#include <mutex>

#include "common/errors.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "runtime/docker/container_bash.h"
#include "runtime/landlock_domain.h"
#include "supervisor/sibling_binary.h"

namespace agentfense::runtime::docker {

std::string install_scope_helper(const ContainerInit& init) {
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
  // Every command of a Docker sandbox starts through it: installed beside this binary
  // (UserError naming both when it is missing).
  const std::string path = supervisor::sibling_binary("agentfense-scope");
  const UniqueFd source(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!source) throw SystemError("open " + path, errno);
  const UniqueFd dir = open_runtime_dir(init);
  return install_execute_only_copy(dir.get(), source.get(), "scope");
}

std::vector<std::string> scoped(const std::string& scope, std::vector<std::string> argv) {
  if (!scope.empty()) argv.insert(argv.begin(), scope);
  return argv;
}

}  // namespace agentfense::runtime::docker
