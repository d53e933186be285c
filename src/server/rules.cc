#include "server/rules.h"

#include "common/errors.h"
#include "policy/compile_estimate.h"
#include "policy/policy.h"

namespace agentfense::server {
namespace {

ApiError invalid_rule(int index, const v1::PermissionRule& rule, const std::string& why) {
  // A long pattern is shown by its start and length: the reason must survive the cut of
  // long messages (error_status.h).
  return ApiError(StatusCode::INVALID_ARGUMENT,
                  "permissions[" + std::to_string(index) + "] ('" +
                      escape_user_text(policy::shown_pattern(rule.pattern())) + "'): " + why,
                  kReasonInvalidRule);
}

policy::Level level_from_wire(v1::Permission permission) {
  switch (permission) {
    case v1::PERMISSION_NONE:
      return policy::Level::kNone;
    case v1::PERMISSION_VIEW:
      return policy::Level::kView;
    case v1::PERMISSION_READ:
      return policy::Level::kRead;
    case v1::PERMISSION_WRITE:
      return policy::Level::kWrite;
    case v1::PERMISSION_UNSPECIFIED:
      throw UserError("permission is missing (PERMISSION_NONE|VIEW|READ|WRITE)");
    default:
      throw UserError("unknown permission " + std::to_string(permission) +
                      " (PERMISSION_NONE|VIEW|READ|WRITE)");
  }
}

policy::PatternType type_from_wire(v1::PatternType type) {
  switch (type) {
    case v1::PATTERN_TYPE_UNSPECIFIED:
    case v1::PATTERN_TYPE_GLOB:
      return policy::PatternType::kGlob;
    case v1::PATTERN_TYPE_DIRECTORY:
      return policy::PatternType::kDirectory;
    case v1::PATTERN_TYPE_FILE:
      return policy::PatternType::kFile;
    default:
      throw UserError("unknown pattern type " + std::to_string(type));
  }
}

}  // namespace

std::vector<policy::Rule> rules_from_wire(const WireRules& wire) {
  std::vector<policy::Rule> rules;
  rules.reserve(wire.size());
  policy::RuleChecker checker;
  for (int i = 0; i < wire.size(); ++i) {
    const v1::PermissionRule& rule = wire[i];
    try {
      if (rule.pattern().empty()) throw UserError("pattern is empty");
      policy::Rule converted{.pattern = rule.pattern(),
                             .level = level_from_wire(rule.permission()),
                             .priority = rule.priority(),
                             .type = type_from_wire(rule.type())};
      // Pins any glob error, or the rule that passes a bound of all of them, to its index.
      checker.check(converted);
      rules.push_back(std::move(converted));
    } catch (const policy::RuleError& error) {
      throw invalid_rule(i, rule, error.why());  // named here by its index, not "rule N"
    } catch (const UserError& error) {
      throw invalid_rule(i, rule, error.what());
    }
  }
  return rules;
}

std::int64_t compile_cost(const WireRules& wire) {
  std::vector<std::string_view> patterns;
  patterns.reserve(wire.size());
  for (const v1::PermissionRule& rule : wire) patterns.push_back(rule.pattern());
  return policy::estimate_compile_bytes(patterns);
}

policy::Policy policy_from_wire(const WireRules& wire) {
  std::vector<policy::Rule> rules = rules_from_wire(wire);
  try {
    return policy::Policy::compile(std::move(rules));
  } catch (const UserError& error) {
    throw ApiError(StatusCode::INVALID_ARGUMENT, std::string("permissions: ") + error.what(),
                   kReasonInvalidRule);
  }
}

v1::PermissionRule rule_to_wire(const policy::Rule& rule) {
  static constexpr v1::Permission kLevels[] = {v1::PERMISSION_NONE, v1::PERMISSION_VIEW,
                                               v1::PERMISSION_READ, v1::PERMISSION_WRITE};
  static constexpr v1::PatternType kTypes[] = {v1::PATTERN_TYPE_GLOB, v1::PATTERN_TYPE_DIRECTORY,
                                               v1::PATTERN_TYPE_FILE};
  v1::PermissionRule wire;
  wire.set_pattern(rule.pattern);
  wire.set_permission(kLevels[static_cast<int>(rule.level)]);
  wire.set_type(kTypes[static_cast<int>(rule.type)]);
  wire.set_priority(rule.priority);
  return wire;
}

}  // namespace agentfense::server
