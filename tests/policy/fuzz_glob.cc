// libFuzzer target: arbitrary rule sets and paths through compile(), decide() and
// normalize_path(). Input is split into lines; a line starting with '/' is a path to
// decide, any other line is a rule whose first byte picks level, type and priority.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/errors.h"
#include "policy/policy.h"

namespace {

using agentfense::UserError;
using namespace agentfense::policy;

agentfense::policy::Rule rule_from_line(std::string_view line) {
  const auto control = static_cast<unsigned char>(line.empty() ? 0 : line.front());
  Rule rule;
  rule.level = static_cast<Level>(control % 4);
  rule.type = static_cast<PatternType>((control / 4) % 3);
  rule.priority = static_cast<std::int32_t>(control / 12) - 10;
  rule.pattern = std::string(line.empty() ? line : line.substr(1));
  return rule;
}

// Invariants that must hold for any decision.
void check(const Policy& policy, const Decision& decision) {
  if (decision.rule < -1 || decision.rule >= static_cast<int>(policy.rules().size())) abort();
  if (decision.rule == -1 && decision.level != Level::kNone) abort();
  if (decision.rule >= 0 && decision.level != policy.rules()[decision.rule].level) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<Rule> rules;
  std::vector<std::string> paths;
  std::size_t start = 0;
  while (start <= input.size()) {
    std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(start, end - start);
    if (!line.empty() && line.front() == '/') {
      try {
        paths.push_back(normalize_path(line));
      } catch (const UserError&) {
        // Rejected paths ("..", NUL) are expected; nothing to decide.
      }
    } else if (!line.empty()) {
      rules.push_back(rule_from_line(line));
    }
    start = end + 1;
  }
  try {
    const Policy policy = Policy::compile(rules);
    paths.push_back("/");
    for (const std::string& path : paths) {
      check(policy, policy.decide(path, true));
      check(policy, policy.decide(path, false));
    }
  } catch (const UserError&) {
    // Invalid rules are the common case for random input.
  }
  return 0;
}
