// Built-in presets, defined once in presets/presets.json (embedded at build time) so the
// Python SDK loads exactly the same rules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/rule.h"

namespace agentfense::policy {

std::vector<std::string> preset_names();
// Throws UserError("unknown preset 'x' (known: agent-safe, ...)").
std::vector<Rule> preset_rules(std::string_view name);

}  // namespace agentfense::policy
