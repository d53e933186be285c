#include "runtime/cgroup_delegation.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "runtime/cgroup_backends.h"
#include "runtime/cgroup_places.h"

namespace agentfense::runtime {
namespace {

bool owned_by(const std::string& path, uid_t uid, bool directory) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && st.st_uid == uid &&
         (directory ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

// What systemd chowns when it delegates a cgroup (and what we write into).
bool delegated_to(const std::string& dir, uid_t uid) {
  return owned_by(dir, uid, true) && owned_by(dir + "/cgroup.procs", uid, false) &&
         owned_by(dir + "/cgroup.subtree_control", uid, false);
}

bool offers(const std::string& dir, const std::string& controller) {
  std::ifstream in(dir + "/cgroup.controllers");
  for (std::string name; in >> name;)
    if (name == controller) return true;
  return false;
}

// Our cgroup on a pure v2 host (the "0::/path" line of /proc/self/cgroup).
std::string own_unified_path() {
  const CgroupPlaces own = cgroups_of(0, {});
  const auto unified = own.find("");
  return unified == own.end() ? "" : unified->second;
}

}  // namespace

std::string find_delegated_cgroup(const std::string& unified_root, const std::string& own_path,
                                  uid_t uid) {
  if (own_path.empty() || own_path.front() != '/' || own_path.find("/..") != std::string::npos)
    return "";
  std::string relative = own_path;
  while (relative.size() > 1 && relative.back() == '/') relative.pop_back();
  const std::string own = unified_root + relative;
  std::string best;
  // Walk up from our own cgroup while each level is still ours; the root is never.
  for (std::string dir = own; dir.size() > unified_root.size(); dir.resize(dir.rfind('/'))) {
    if (!delegated_to(dir, uid)) break;
    best = dir;
  }
  if (best.empty() || best == own) return "";
  if (!offers(best, "memory") || !offers(best, "pids")) return "";
  return best;
}

std::string delegated_cgroup_root() {
  // A hybrid host's v2 hierarchy carries no controllers; v1 is never delegated.
  if (::access((std::string(kUnifiedRoot) + "/cgroup.controllers").c_str(), F_OK) != 0) return "";
  return find_delegated_cgroup(kUnifiedRoot, own_unified_path(), ::geteuid());
}

bool cgroup_limits_available() {
  return ::geteuid() == 0 || !delegated_cgroup_root().empty();
}

}  // namespace agentfense::runtime
