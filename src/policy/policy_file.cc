#include "policy/policy_file.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "common/errors.h"
#include "policy/presets.h"
#include "policy/text_util.h"

namespace agentfense::policy {
namespace {

// Throws UserError("<source>: <where>: <why>").
[[noreturn]] void fail(std::string_view source, std::string_view where, std::string_view why) {
  throw UserError(std::string(source) + ": " + std::string(where) + ": " + std::string(why));
}

std::string scalar(const YAML::Node& node, std::string_view source, const std::string& where,
                   std::string_view key) {
  if (!node.IsScalar()) fail(source, where, "'" + std::string(key) + "' must be a string");
  return node.Scalar();
}

Rule parse_rule_entry(const YAML::Node& entry, std::string_view source, int number) {
  const std::string where = "rule " + std::to_string(number);
  if (!entry.IsMap()) fail(source, where, "expected a mapping with 'pattern' and 'permission'");
  Rule rule;
  bool has_pattern = false;
  bool has_level = false;
  std::set<std::string> seen;
  for (const auto& item : entry) {
    const std::string key = item.first.as<std::string>();
    const YAML::Node& value = item.second;
    // YAML keeps the last of two equal keys (and JSON parsers differ): one rule with two
    // patterns or priorities is ambiguous, and silently taking one could widen it.
    if (!seen.insert(key).second) fail(source, where, "duplicate key '" + key + "'");
    if (key == "pattern") {
      rule.pattern = scalar(value, source, where, key);
      has_pattern = true;
    } else if (key == "permission" || key == "level") {
      if (has_level) fail(source, where, "give only one of 'permission' and 'level'");
      const std::string text = scalar(value, source, where, key);
      std::optional<Level> level = parse_level(text);
      if (!level) fail(source, where, "unknown permission '" + text + "' (none|view|read|write)");
      rule.level = *level;
      has_level = true;
    } else if (key == "priority") {
      // Decimal only, as in --rule: YAML would read 010 as octal 8 and 0x10 as 16, so the
      // same number could rank differently in a file and on the command line.
      const std::string text = scalar(value, source, where, key);
      const std::optional<std::int32_t> priority = parse_int32(text);
      if (!priority) fail(source, where, "priority '" + text + "' is not a decimal 32-bit integer");
      rule.priority = *priority;
    } else if (key == "type") {
      const std::string text = scalar(value, source, where, key);
      std::optional<PatternType> type = parse_pattern_type(text);
      if (!type) fail(source, where, "unknown type '" + text + "' (glob|directory|file)");
      rule.type = *type;
    } else {
      fail(source, where,
           "unknown key '" + key + "' (expected pattern, permission, priority, type)");
    }
  }
  if (!has_pattern) fail(source, where, "missing 'pattern'");
  if (!has_level) fail(source, where, "missing 'permission'");
  return rule;
}

void append_rule_list(const YAML::Node& list, std::string_view source, std::vector<Rule>& rules) {
  if (!list.IsSequence()) fail(source, "rules", "expected a list of rules");
  int number = 0;
  for (const YAML::Node& entry : list) rules.push_back(parse_rule_entry(entry, source, ++number));
}

std::vector<Rule> parse_document(const YAML::Node& root, std::string_view source) {
  std::vector<Rule> rules;
  if (root.IsSequence()) {
    append_rule_list(root, source, rules);
    return rules;
  }
  if (!root.IsMap()) fail(source, "top level", "expected a list of rules or {preset:, rules:}");
  // Not a YAML::Node: assigning to a Node rebinds or overwrites in surprising ways.
  std::optional<YAML::Node> rule_list;
  std::set<std::string> seen;
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    // A second `rules` would drop the first list (its `none` rules with it).
    if (!seen.insert(key).second) fail(source, "top level", "duplicate key '" + key + "'");
    if (key == "preset") {
      // Preset rules first: a file rule at the same priority then overrides them.
      std::vector<Rule> preset;
      try {
        preset = preset_rules(scalar(item.second, source, "preset", key));
      } catch (const UserError& error) {
        fail(source, "preset", error.what());
      }
      rules.insert(rules.begin(), preset.begin(), preset.end());
    } else if (key == "rules") {
      rule_list.emplace(item.second);
    } else {
      fail(source, "top level", "unknown key '" + key + "' (expected preset, rules)");
    }
  }
  if (rule_list) append_rule_list(*rule_list, source, rules);
  return rules;
}

}  // namespace

std::vector<Rule> parse_policy_text(std::string_view text, std::string_view source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& error) {
    fail(source_name, "line " + std::to_string(error.mark.line + 1), error.msg);
  }
  try {
    return parse_document(root, source_name);
  } catch (const YAML::Exception& error) {
    fail(source_name, "line " + std::to_string(error.mark.line + 1), error.msg);
  }
}

std::string rules_to_json(const std::vector<Rule>& rules) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& rule : rules) {
    list.push_back({{"pattern", rule.pattern},
                    {"permission", to_string(rule.level)},
                    {"priority", rule.priority},
                    {"type", to_string(rule.type)}});
  }
  return list.dump();
}

}  // namespace agentfense::policy
