#include "runtime/docker/image_volumes.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "common/errors.h"
#include "common/user_text.h"
#include "policy/policy.h"
#include "runtime/docker/container_bash.h"

namespace agentfense::runtime::docker {
namespace {

constexpr std::string_view kWorkspace = "/workspace";

// Where a tmpfs would hide what the sandbox needs: its files, the kernel's views, the
// image's configuration (/etc holds passwd, the loader's preload list, ...), our helpers.
constexpr std::array<std::string_view, 6> kReservedPaths = {kWorkspace, "/proc", "/sys",
                                                            "/dev",     "/etc",  kRuntimeDir};

bool at_or_below(std::string_view path, std::string_view top) {
  return path == top || (path.starts_with(top) && path[top.size()] == '/');
}

UserError refused(const std::string& image, std::string_view volume, std::string_view why) {
  return UserError("image '" + image + "' declares VOLUME '" + escape_user_text(volume) +
                   "', which " + std::string(why) +
                   ": a Docker sandbox covers each VOLUME with a tmpfs and cannot cover this "
                   "one; rebuild the image without it");
}

std::string checked_volume(const std::string& image, std::string_view declared) {
  if (!declared.starts_with('/')) throw refused(image, declared, "is not an absolute path");
  std::string path;
  try {
    path = policy::normalize_path(declared);
  } catch (const UserError&) {
    throw refused(image, declared, "holds '..' or a NUL byte");
  }
  if (path == "/") throw refused(image, declared, "would cover the whole root filesystem");
  for (const std::string_view reserved : kReservedPaths) {
    if (at_or_below(path, reserved))
      throw refused(image, declared, "would cover " + std::string(reserved));
  }
  return path;
}

}  // namespace

std::vector<std::string> image_volumes(const std::string& image, const nlohmann::json& inspected) {
  std::vector<std::string> paths;
  const auto config = inspected.find("Config");
  if (config == inspected.end() || !config->is_object()) return paths;
  const auto volumes = config->find("Volumes");
  if (volumes == config->end() || !volumes->is_object()) return paths;
  for (const auto& [declared, unused] : volumes->items())
    paths.push_back(checked_volume(image, declared));
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

void refuse_host_volumes(const std::string& image, const nlohmann::json& container) {
  const auto mounts = container.find("Mounts");
  if (mounts == container.end() || !mounts->is_array()) return;
  for (const nlohmann::json& mount : *mounts) {
    const std::string type = mount.value("Type", std::string());
    const std::string target = mount.value("Destination", std::string());
    if (type == "bind" && target == kWorkspace) continue;
    throw UserError("image '" + image + "': dockerd made a " + escape_user_text(type) +
                    " mount at '" + escape_user_text(target) +
                    "', a host directory inside the sandbox; refused");
  }
}

}  // namespace agentfense::runtime::docker
