#include "policy/shadowed_none.h"

#include <cstdint>
#include <map>
#include <utility>

namespace agentfense::policy {
namespace {

std::string short_rule(const Policy& policy, int index) {
  const Rule& rule = policy.rules().at(static_cast<std::size_t>(index));
  return "rule " + std::to_string(index + 1) + " (" + rule.pattern + " -> " +
         std::string(to_string(rule.level)) + ")";
}

std::string fix(const Policy& policy, const ShadowedNone& shadow) {
  const Rule& deciding = policy.rules().at(static_cast<std::size_t>(shadow.deciding_rule));
  return "give rule " + std::to_string(shadow.none_rule + 1) +
         " priority >= " + std::to_string(static_cast<std::int64_t>(deciding.priority) + 1);
}

}  // namespace

ShadowFinder::ShadowFinder(const Policy& policy) : policy_(policy) {
  const std::vector<Rule>& rules = policy.rules();
  for (std::size_t n = 0; n < rules.size(); ++n) {
    if (rules[n].level != Level::kNone) continue;
    for (std::size_t g = 0; g < rules.size(); ++g) {
      // Precedence compares priority first, so "outranks at lower or equal priority"
      // means "equal priority, wins on type, literal prefix or position".
      if (rules[g].level != Level::kNone && rules[g].priority == rules[n].priority &&
          policy.outranks(static_cast<int>(g), static_cast<int>(n))) {
        pairs_.push_back({static_cast<int>(n), static_cast<int>(g)});
      }
    }
  }
}

bool ShadowFinder::may_occur_below(std::string_view dir_path) const {
  std::map<int, bool> reach;  // per rule, computed once for this directory
  auto below = [&](int rule) {
    auto [it, fresh] = reach.try_emplace(rule, false);
    if (fresh) it->second = policy_.may_match_below(rule, dir_path);
    return it->second;
  };
  for (const Pair& pair : pairs_) {
    if (below(pair.none_rule) && below(pair.granting_rule)) return true;
  }
  return false;
}

std::optional<ShadowedNone> ShadowFinder::at(std::string_view path, bool is_dir) const {
  if (pairs_.empty()) return std::nullopt;
  const std::vector<int> matches = policy_.matching_rules(path, is_dir);
  int winner = -1;
  for (int index : matches) {
    if (winner < 0 || policy_.outranks(index, winner)) winner = index;
  }
  const std::vector<Rule>& rules = policy_.rules();
  if (winner < 0 || rules[static_cast<std::size_t>(winner)].level == Level::kNone) {
    return std::nullopt;
  }
  int shadowed = -1;
  for (int index : matches) {
    const Rule& rule = rules[static_cast<std::size_t>(index)];
    if (rule.level != Level::kNone ||
        rule.priority < rules[static_cast<std::size_t>(winner)].priority) {
      continue;
    }
    if (shadowed < 0 || policy_.outranks(index, shadowed)) shadowed = index;
  }
  if (shadowed < 0) return std::nullopt;
  return ShadowedNone{.path = std::string(path), .none_rule = shadowed, .deciding_rule = winner};
}

std::vector<ShadowedNone> find_shadowed_none(const Policy& policy,
                                             const std::vector<PathKind>& paths) {
  const ShadowFinder finder(policy);
  std::vector<ShadowedNone> found;
  if (!finder.possible()) return found;
  for (const PathKind& path : paths) {
    if (std::optional<ShadowedNone> shadow = finder.at(path.path, path.is_dir)) {
      found.push_back(std::move(*shadow));
    }
  }
  return found;
}

std::string shadow_warning(const Policy& policy, const ShadowedNone& shadow) {
  return short_rule(policy, shadow.none_rule) + " is overridden at " + shadow.path + " by " +
         short_rule(policy, shadow.deciding_rule) + ": " + fix(policy, shadow);
}

std::vector<std::string> shadow_warnings(const Policy& policy,
                                         const std::vector<ShadowedNone>& shadows,
                                         std::size_t limit) {
  std::vector<std::string> warnings;
  if (limit == 0) limit = 1;
  const std::size_t named = shadows.size() <= limit ? shadows.size() : limit - 1;
  for (std::size_t i = 0; i < named; ++i) warnings.push_back(shadow_warning(policy, shadows[i]));
  if (named == shadows.size()) return warnings;
  const ShadowedNone& next = shadows[named];
  warnings.push_back(std::to_string(shadows.size() - named) +
                     " more paths where a none rule is overridden by a rule of lower or equal "
                     "priority, starting with " +
                     shadow_warning(policy, next) +
                     " (`agentfense explain` lists every path; give each such none rule a "
                     "priority above the rule that overrides it)");
  return warnings;
}

}  // namespace agentfense::policy
