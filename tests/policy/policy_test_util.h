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

// `pairs` none rules /dI/x/y and as many read rules /dI/x/y/z at one priority: each none
// rule outranked by a read rule below it, which made 25M (none, granting) pairs for 5,000
// (attack sweep J6), none of them reaching below a0, a1, ...
inline std::vector<Rule> paired_rules(int pairs) {
  std::vector<Rule> rules;
  for (int i = 0; i < pairs; ++i)
    rules.push_back(glob("/d" + std::to_string(i) + "/x/y", Level::kNone));
  for (int i = 0; i < pairs; ++i)
    rules.push_back(glob("/d" + std::to_string(i) + "/x/y/z", Level::kRead));
  return rules;
}

inline Decision decide(const std::vector<Rule>& rules, const std::string& path, bool is_dir) {
  return Policy::compile(rules).decide(path, is_dir);
}

}  // namespace agentfense::policy::testing
