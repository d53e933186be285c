#include "fs/new_name.h"

namespace agentfense::fs {

policy::Decision decide_new_name(const policy::Policy& policy, std::string_view path, bool is_dir) {
  const policy::Decision as_dir = policy.decide(path, true);
  if (is_dir || as_dir.level == policy::Level::kNone) return as_dir;
  return policy.decide(path, false);
}

bool hidden_under_new_dir(const policy::Policy& policy, std::string_view path,
                          const struct stat& existing) {
  return !S_ISDIR(existing.st_mode) && policy.decide(path, false).level == policy::Level::kNone;
}

}  // namespace agentfense::fs
