// What one sandbox could see and change, decided by its policy: the single rule for
// what a change listing, a diff and a commit may show or touch (DESIGN.md "Security
// model": nothing the sandbox cannot see crosses outward).
//
//   hidden    level none. Never listed, never diffed, never deleted or replaced by a
//             commit: deleting or replacing a directory removes what the sandbox could
//             see in it and keeps its hidden entries (and so the directory itself).
//   readable  level read or write. A diff may show the content.
//   writable  level write. A commit may apply a change here.
#pragma once

#include <string_view>

#include "policy/policy.h"

namespace agentfense::layer {

class Scope {
 public:
  explicit Scope(const policy::Policy& policy) : policy_(policy) {}

  bool hidden(std::string_view path, bool is_dir) const {
    return level(path, is_dir) == policy::Level::kNone;
  }
  bool readable(std::string_view path, bool is_dir) const {
    return level(path, is_dir) >= policy::Level::kRead;
  }
  bool writable(std::string_view path, bool is_dir) const {
    return level(path, is_dir) == policy::Level::kWrite;
  }
  // Some path beneath directory `path` may be below read, by the rules alone.
  bool below_may_be_unreadable(std::string_view path) const {
    return policy_.below_may_be_unreadable(path);
  }

 private:
  policy::Level level(std::string_view path, bool is_dir) const {
    return policy_.decide(path, is_dir).level;
  }

  const policy::Policy& policy_;
};

}  // namespace agentfense::layer
