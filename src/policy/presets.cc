#include "policy/presets.h"

#include <map>
#include <nlohmann/json.hpp>

#include "common/errors.h"

namespace agentfense::policy {

extern const std::string_view kPresetsJson;  // generated from presets/presets.json

namespace {

Rule rule_from_json(const nlohmann::json& entry) {
  Rule rule;
  rule.pattern = entry.at("pattern").get<std::string>();
  const std::string level_name = entry.at("permission").get<std::string>();
  std::optional<Level> level = parse_level(level_name);
  if (!level) throw std::invalid_argument("unknown permission '" + level_name + "'");
  rule.level = *level;
  rule.priority = entry.value("priority", std::int32_t{0});
  if (entry.contains("type")) {
    std::optional<PatternType> type = parse_pattern_type(entry.at("type").get<std::string>());
    if (!type) throw std::invalid_argument("unknown pattern type");
    rule.type = *type;
  }
  return rule;
}

using PresetTable = std::map<std::string, std::vector<Rule>, std::less<>>;

PresetTable parse_presets() {
  PresetTable table;
  const nlohmann::json document = nlohmann::json::parse(kPresetsJson);
  for (const auto& [name, preset] : document.at("presets").items()) {
    std::vector<Rule>& rules = table[name];
    for (const nlohmann::json& entry : preset.at("rules")) rules.push_back(rule_from_json(entry));
  }
  return table;
}

// Parsed on first use. The data is compiled in and covered by tests, so a parse failure
// is a build defect; letting the exception escape makes it loud.
const PresetTable& presets() {
  static const PresetTable table = parse_presets();
  return table;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& entry : presets()) names.push_back(entry.first);
  return names;
}

std::vector<Rule> preset_rules(std::string_view name) {
  const auto found = presets().find(name);
  if (found != presets().end()) return found->second;
  std::string known;
  for (const std::string& candidate : preset_names()) {
    known += (known.empty() ? "" : ", ") + candidate;
  }
  throw UserError("unknown preset '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace agentfense::policy
