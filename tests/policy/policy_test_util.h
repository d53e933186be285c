// Helpers shared by the policy tests.
#pragma once

#include <string>
#include <vector>

#include "policy/policy.h"

namespace agentfense::policy::testing {

inline Rule glob(std::string pattern, Level level, int priority = 0) {
  return Rule{.pattern = std::move(pattern),
              .level = level,
              .priority = priority,
              .type = PatternType::kGlob};
}

inline Rule typed(std::string pattern, Level level, PatternType type, int priority = 0) {
  return Rule{.pattern = std::move(pattern), .level = level, .priority = priority, .type = type};
}

inline Decision decide(const std::vector<Rule>& rules, const std::string& path, bool is_dir) {
  return Policy::compile(rules).decide(path, is_dir);
}

}  // namespace agentfense::policy::testing
