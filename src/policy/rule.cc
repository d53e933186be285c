#include "policy/rule.h"

#include "common/errors.h"
#include "policy/text_util.h"

namespace agentfense::policy {

std::string_view to_string(PatternType type) {
  switch (type) {
    case PatternType::kGlob:
      return "glob";
    case PatternType::kDirectory:
      return "directory";
    case PatternType::kFile:
      return "file";
  }
  return "invalid";
}

std::optional<PatternType> parse_pattern_type(std::string_view text) {
  // The wire (protobuf enum) spelling is the short name with a prefix.
  text = strip_prefix_ignoring_case(text, "PATTERN_TYPE_");
  for (PatternType type : {PatternType::kGlob, PatternType::kDirectory, PatternType::kFile}) {
    if (equals_ignoring_case(text, to_string(type))) return type;
  }
  return std::nullopt;
}

Rule parse_rule_flag(std::string_view text) {
  auto fail = [&](std::string_view why) -> Rule {
    throw UserError("invalid rule '" + std::string(text) + "': " + std::string(why) +
                    " (expected pattern=level[:priority], e.g. src/**=write:5)");
  };
  // The last '=' splits, so patterns may themselves contain '='; levels never do.
  const std::size_t equals = text.rfind('=');
  if (equals == std::string_view::npos) return fail("missing '='");
  Rule rule;
  rule.pattern = std::string(text.substr(0, equals));
  if (rule.pattern.empty()) return fail("empty pattern");

  std::string_view level_and_priority = text.substr(equals + 1);
  std::string_view level_text = level_and_priority;
  const std::size_t colon = level_and_priority.find(':');
  if (colon != std::string_view::npos) {
    level_text = level_and_priority.substr(0, colon);
    std::optional<std::int32_t> priority = parse_int32(level_and_priority.substr(colon + 1));
    if (!priority) return fail("priority must be a 32-bit integer");
    rule.priority = *priority;
  }
  std::optional<Level> level = parse_level(level_text);
  if (!level) return fail("unknown level '" + std::string(level_text) + "' (none|view|read|write)");
  rule.level = *level;
  return rule;
}

std::string describe(const Rule& rule) {
  return rule.pattern + " -> " + std::string(to_string(rule.level)) + " (priority " +
         std::to_string(rule.priority) + ", " + std::string(to_string(rule.type)) + ")";
}

}  // namespace agentfense::policy
