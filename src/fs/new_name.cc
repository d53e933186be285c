#include "fs/new_name.h"

namespace agentfense::fs {

policy::Decision decide_new_name(const policy::Policy& policy, std::string_view path, bool is_dir) {
  const policy::Decision as_dir = policy.decide(path, true);
  if (is_dir || as_dir.level == policy::Level::kNone) return as_dir;
  return policy.decide(path, false);
}

}  // namespace agentfense::fs
