// Policy files, YAML or JSON (JSON is parsed as YAML):
//   - a list of rules:      [{pattern: "/src/**", permission: read, priority: 0, type: glob}]
//   - or a mapping:         {preset: agent-safe, rules: [...]}
// Rule keys: pattern (required), permission (required; "level" accepted as a synonym),
// priority (int, default 0), type (glob|directory|file, default glob). Unknown keys are
// errors. Preset rules come first, so a file rule at the same priority overrides them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/rule.h"

namespace agentfense::policy {

// Throws UserError naming the file and the offending entry.
std::vector<Rule> parse_policy_text(std::string_view text, std::string_view source_name);

// Serializes rules as the JSON list parse_policy_text accepts (how the policy is handed
// to a mount process).
std::string rules_to_json(const std::vector<Rule>& rules);

}  // namespace agentfense::policy
