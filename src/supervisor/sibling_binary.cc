#include "supervisor/sibling_binary.h"

#include <unistd.h>

#include <filesystem>

#include "common/errors.h"

namespace agentfense::supervisor {

std::string sibling_binary(const std::string& name) {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw SystemError("readlink /proc/self/exe", error.value());
  const std::string path = (self.parent_path() / name).string();
  if (::access(path.c_str(), X_OK) != 0)
    throw UserError(name + " not found next to " + self.string() + " (expected " + path +
                    "); install both binaries together");
  return path;
}

std::string fs_program() {
  try {
    return sibling_binary("agentfense-fs");
  } catch (const UserError&) {
    return sibling_binary("agentfense");
  }
}

}  // namespace agentfense::supervisor
