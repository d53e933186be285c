#include "policy/shadowed_none.h"

#include <algorithm>
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
  std::map<std::int64_t, Group> by_priority;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    Group& group = by_priority[rules[i].priority];
    (rules[i].level == Level::kNone ? group.none_by_rank : group.granting_by_rank)
        .push_back(static_cast<int>(i));
  }
  for (auto& [priority, group] : by_priority) {
    auto worse = [&](int a, int b) { return policy.outranks(b, a); };
    std::sort(group.none_by_rank.begin(), group.none_by_rank.end(), worse);
    std::sort(group.granting_by_rank.begin(), group.granting_by_rank.end(),
              [&](int a, int b) { return policy.outranks(a, b); });
    if (group.none_by_rank.empty() || group.granting_by_rank.empty()) continue;
    // Ranks are a total order: a pair exists iff the best granting rule outranks the
    // worst none rule. Rules outside every pair can never take part in one.
    const int best_granting = group.granting_by_rank.front();
    const int worst_none = group.none_by_rank.front();
    if (!policy.outranks(best_granting, worst_none)) continue;
    std::erase_if(group.none_by_rank, [&](int n) { return !policy.outranks(best_granting, n); });
    std::erase_if(group.granting_by_rank, [&](int g) { return !policy.outranks(g, worst_none); });
    groups_.push_back(std::move(group));
  }
}

bool ShadowFinder::may_occur_below(std::string_view dir_path) {
  for (const Group& group : groups_) {
    if (may_occur_below(group, dir_path)) return true;
  }
  return false;
}

// Some none rule and some granting rule outranking it both reach below: the worst-ranked
// reaching none rule is the easiest to outrank, so only it needs comparing.
bool ShadowFinder::may_occur_below(const Group& group, std::string_view dir_path) {
  int worst_reaching_none = -1;
  for (int n : group.none_by_rank) {
    ++steps_;
    if (policy_.may_match_below(n, dir_path)) {
      worst_reaching_none = n;
      break;
    }
  }
  if (worst_reaching_none < 0) return false;
  for (int g : group.granting_by_rank) {
    if (!policy_.outranks(g, worst_reaching_none)) break;  // best first: none further
    ++steps_;
    if (policy_.may_match_below(g, dir_path)) return true;
  }
  return false;
}

std::optional<ShadowedNone> ShadowFinder::at(std::string_view path, bool is_dir) {
  if (groups_.empty()) return std::nullopt;
  const std::vector<int> matches = policy_.matching_rules(path, is_dir);
  steps_ += 1 + matches.size();
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
  ShadowFinder finder(policy);
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
