#include "policy/policy.h"

#include <re2/set.h>

#include <algorithm>
#include <mutex>
#include <numeric>
#include <tuple>

#include "common/errors.h"
#include "policy/bounded_set.h"
#include "policy/compiled_rule.h"
#include "policy/reserved_names.h"
#include "policy/subtree_reach.h"

namespace agentfense::policy {
namespace {

// Paths are matched as "<path text>\0d" (directory) or "<path text>\0f" (anything else),
// with "" as the root's path text. The suffix lets one automaton answer both "matches
// this directory itself" and "matches a descendant"; NUL cannot occur in a path.
std::string_view decorate(std::string_view path, bool is_dir, std::string& buffer) {
  buffer.assign(path == "/" ? std::string_view() : path);
  buffer.push_back('\0');
  buffer.push_back(is_dir ? 'd' : 'f');
  return buffer;
}

// Larger rank wins: priority, then file > directory > glob, then literal prefix, then
// position in the list. Every key is a property of the rule alone, so ranks are a total
// order computed once.
std::vector<int> precedence_ranks(const std::vector<Rule>& rules,
                                  const std::vector<CompiledRule>& compiled) {
  std::vector<int> order(rules.size());
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](int i) {
    return std::make_tuple(rules[i].priority, static_cast<int>(rules[i].type),
                           compiled[i].literal_prefix, i);
  };
  std::sort(order.begin(), order.end(), [&](int a, int b) { return key(a) < key(b); });
  std::vector<int> rank(rules.size());
  for (std::size_t position = 0; position < order.size(); ++position) {
    rank[order[position]] = static_cast<int>(position);
  }
  return rank;
}

// Rules whose reach below a directory may be true (reach_regex.h), by one automaton
// over the directory's path text instead of one segment walk per rule.
class ReachIndex {
 public:
  // `regexes` per rule; an empty one never matches and is left out; a rule in
  // `everywhere` is a candidate in every directory without being matched.
  void build(const std::vector<std::string>& regexes, const std::vector<bool>& everywhere) {
    for (std::size_t i = 0; i < regexes.size(); ++i) {
      if (everywhere[i]) {
        always_.push_back(static_cast<int>(i));
        continue;
      }
      if (regexes[i].empty()) continue;
      if (!set_.add(regexes[i], nullptr)) return;  // unindexed: every rule is a candidate
      rule_of_.push_back(static_cast<int>(i));
    }
    ready_ = rule_of_.empty() || set_.compile();
  }
  // The rules not ruled out at `dir_path`; false when the index cannot tell (not built,
  // or the automaton ran out of memory), and the caller must consider every rule.
  bool candidates(std::string_view dir_path, std::vector<int>* rules) const {
    if (!ready_) return false;
    *rules = always_;
    if (rule_of_.empty()) return true;  // no other rule reaches below any directory
    thread_local std::vector<int> matches;
    re2::RE2::Set::ErrorInfo error{};
    const std::string_view text = dir_path == "/" ? std::string_view() : dir_path;
    if (!set_.match(text, &matches, &error)) return error.kind == re2::RE2::Set::kNoError;
    for (int match : matches) rules->push_back(rule_of_[static_cast<std::size_t>(match)]);
    return true;
  }

 private:
  BoundedSet set_;
  std::vector<int> rule_of_;  // set index -> rule index
  std::vector<int> always_;   // rules that are candidates everywhere
  bool ready_ = false;
};

}  // namespace

struct Policy::Compiled {
  std::vector<Rule> rules;
  std::vector<CompiledRule> compiled;
  std::vector<int> rank;
  std::vector<int> hiding_candidates;  // rules granting none
  std::vector<int> granting_by_rank;   // rules granting more than none, best rank first
  std::vector<int> writing_by_rank;    // rules granting write, best rank first
  std::vector<int> not_writing;        // rules granting less than write
  BoundedSet set;
  // Built on the first directory question (index_reach), not by compile(): a process
  // that only checks rules, as the server for each request, never pays for it.
  mutable std::once_flag reach_indexed;
  mutable ReachIndex below_index;  // may_match_below or may_match_child may be true
  mutable ReachIndex cover_index;  // matches_all_below may be true
  bool reach_index_wanted = true;

  // False when no rule matched; `matches` gets the matching rule indices.
  bool match(std::string_view path, bool is_dir, std::vector<int>* matches) const;
  int winner(std::string_view path, bool is_dir) const;
  bool descendants_may_be_visible(std::string_view dir_path,
                                  const std::vector<std::string_view>& segments) const;
  bool children_may_be_writable(std::string_view dir_path,
                                const std::vector<std::string_view>& segments) const;
  void index_rules_by_level();  // fills the lists above; needs rules and rank
  void index_reach() const;     // builds below_index and cover_index, once
  void build_reach_index() const;
  SubtreeReach reach(int rule, std::string_view dir_path,
                     const std::vector<std::string_view>& segments) const {
    return compiled[static_cast<std::size_t>(rule)].shape.reach(segments, dir_path);
  }
};

// `fallback` when `index` cannot tell, else the rules it does not rule out (in `buffer`).
const std::vector<int>& candidates(const ReachIndex& index, std::string_view dir_path,
                                   const std::vector<int>& fallback, std::vector<int>& buffer) {
  return index.candidates(dir_path, &buffer) ? buffer : fallback;
}

bool Policy::Compiled::match(std::string_view path, bool is_dir, std::vector<int>* matches) const {
  matches->clear();
  if (rules.empty()) return false;
  thread_local std::string text;  // reused per thread: steady-state decisions do not allocate
  re2::RE2::Set::ErrorInfo error{};
  // On failure (including the automaton running out of memory) no rule matched: fail
  // closed with level none.
  return set.match(decorate(path, is_dir, text), matches, &error);
}

int Policy::Compiled::winner(std::string_view path, bool is_dir) const {
  thread_local std::vector<int> matches;
  if (!match(path, is_dir, &matches)) return -1;
  int best = -1;
  for (int index : matches) {
    if (best < 0 || rank[index] > rank[best]) best = index;
  }
  return best;
}

bool Policy::Compiled::descendants_may_be_visible(
    std::string_view dir_path, const std::vector<std::string_view>& segments) const {
  thread_local std::vector<int> covering, reaching;
  // A none rule covering the whole subtree hides everything below it that it outranks.
  int hiding_rank = -1;
  for (int i : candidates(cover_index, dir_path, hiding_candidates, covering)) {
    if (rules[i].level == Level::kNone && rank[i] > hiding_rank &&
        reach(i, dir_path, segments).matches_all_below) {
      hiding_rank = rank[i];
    }
  }
  if (below_index.candidates(dir_path, &reaching)) {
    for (int i : reaching) {
      if (rules[i].level != Level::kNone && rank[i] > hiding_rank &&
          reach(i, dir_path, segments).may_match_below)
        return true;
    }
    return false;
  }
  // Best-ranked first, so the common case (a broad read rule) answers after one check.
  for (int i : granting_by_rank) {
    if (rank[i] <= hiding_rank) break;
    if (reach(i, dir_path, segments).may_match_below) return true;
  }
  return false;
}

bool Policy::Compiled::children_may_be_writable(
    std::string_view dir_path, const std::vector<std::string_view>& segments) const {
  if (writing_by_rank.empty()) return false;  // the common read-only policies: no walk
  thread_local std::vector<int> covering, reaching;
  // A rule at another level covering the whole subtree decides every child it outranks.
  int covering_rank = -1;
  for (int i : candidates(cover_index, dir_path, not_writing, covering)) {
    if (rules[i].level != Level::kWrite && rank[i] > covering_rank &&
        reach(i, dir_path, segments).matches_all_below) {
      covering_rank = rank[i];
    }
  }
  if (below_index.candidates(dir_path, &reaching)) {
    for (int i : reaching) {
      if (rules[i].level == Level::kWrite && rank[i] > covering_rank &&
          reach(i, dir_path, segments).may_match_child)
        return true;
    }
    return false;
  }
  for (int i : writing_by_rank) {
    if (rank[i] <= covering_rank) break;
    if (reach(i, dir_path, segments).may_match_child) return true;
  }
  return false;
}

void Policy::Compiled::index_reach() const {
  std::call_once(reach_indexed, [this] { build_reach_index(); });
}

void Policy::Compiled::build_reach_index() const {
  if (!reach_index_wanted) return;  // left unbuilt: every rule is a candidate
  std::vector<std::string> below, cover;
  std::vector<bool> below_everywhere;
  for (const CompiledRule& rule : compiled) {
    below.push_back(rule.reach.below);
    below_everywhere.push_back(rule.reach.below_everywhere);
    cover.push_back(rule.reach.cover);
  }
  below_index.build(below, below_everywhere);
  cover_index.build(cover, std::vector<bool>(cover.size(), false));
}

void Policy::Compiled::index_rules_by_level() {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    auto& list = rules[i].level == Level::kNone ? hiding_candidates : granting_by_rank;
    list.push_back(static_cast<int>(i));
    auto& by_write = rules[i].level == Level::kWrite ? writing_by_rank : not_writing;
    by_write.push_back(static_cast<int>(i));
  }
  auto best_first = [&](int a, int b) { return rank[a] > rank[b]; };
  std::sort(granting_by_rank.begin(), granting_by_rank.end(), best_first);
  std::sort(writing_by_rank.begin(), writing_by_rank.end(), best_first);
}

void RuleChecker::check(const Rule& rule) {
  if (static_cast<std::size_t>(++checked_) > kMaxPolicyRules) {
    throw UserError("more than " + std::to_string(kMaxPolicyRules) +
                    " rules: a policy holds at most that many");
  }
  (void)compile_rule(rule, checked_, spent_);
}

Policy Policy::compile(std::vector<Rule> rules) {
  return compile(std::move(rules), true);
}

Policy Policy::compile_unindexed(std::vector<Rule> rules) {
  return compile(std::move(rules), false);
}

Policy Policy::compile(std::vector<Rule> rules, bool index_reach) {
  if (rules.size() > kMaxPolicyRules) {
    throw UserError(std::to_string(rules.size()) + " rules: a policy holds at most " +
                    std::to_string(kMaxPolicyRules));
  }
  auto compiled = std::make_unique<Compiled>();
  CompileBudget spent;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    CompiledRule rule = compile_rule(rules[i], static_cast<int>(i) + 1, spent);
    // A trailing "/" made it a directory rule; record that so explain output says so.
    rules[i].type = rule.type;
    std::string error;
    if (!compiled->set.add(rule.regex, &error)) {
      throw RuleError(
          rule_error_prefix(rules[i], static_cast<int>(i) + 1) + "internal regex error: " + error,
          "internal regex error: " + error);
    }
    compiled->compiled.push_back(std::move(rule));
  }
  if (!compiled->set.compile()) {
    throw UserError("rules are too complex to compile together (" + std::to_string(rules.size()) +
                    " rules)");
  }
  compiled->rank = precedence_ranks(rules, compiled->compiled);
  compiled->rules = std::move(rules);
  compiled->index_rules_by_level();
  compiled->reach_index_wanted = index_reach;
  return Policy(std::move(compiled));
}

Policy::Policy(std::unique_ptr<Compiled> compiled) : compiled_(std::move(compiled)) {}
Policy::Policy(Policy&&) noexcept = default;
Policy& Policy::operator=(Policy&&) noexcept = default;
Policy::~Policy() = default;

Decision Policy::decide(std::string_view path, bool is_dir) const {
  Decision decision;
  if (names_reserved_entry(path)) return decision;  // none, by no rule (reserved_names.h)
  decision.rule = compiled_->winner(path, is_dir);
  if (decision.rule >= 0) decision.level = compiled_->rules[decision.rule].level;
  if (is_dir) {
    compiled_->index_reach();
    const std::vector<std::string_view> segments = path_segments(path);
    decision.descendants_may_be_visible = compiled_->descendants_may_be_visible(path, segments);
    decision.children_may_be_writable = compiled_->children_may_be_writable(path, segments);
  }
  return decision;
}

const std::vector<Rule>& Policy::rules() const {
  return compiled_->rules;
}

std::vector<int> Policy::matching_rules(std::string_view path, bool is_dir) const {
  std::vector<int> matches;
  compiled_->match(path, is_dir, &matches);
  std::sort(matches.begin(), matches.end());
  return matches;
}

bool Policy::outranks(int a, int b) const {
  return compiled_->rank.at(static_cast<std::size_t>(a)) >
         compiled_->rank.at(static_cast<std::size_t>(b));
}

bool Policy::may_match_below(int rule, std::string_view dir_path) const {
  return compiled_->compiled.at(static_cast<std::size_t>(rule))
      .shape.reach(path_segments(dir_path), dir_path)
      .may_match_below;
}

bool Policy::below_may_be_unreadable(std::string_view dir_path) const {
  const Compiled& c = *compiled_;
  c.index_reach();
  const std::vector<std::string_view> segments = path_segments(dir_path);
  std::vector<int> all(c.rules.size()), buffer;
  std::iota(all.begin(), all.end(), 0);
  // The best rule granting read or write to the whole subtree; without one, some path
  // below may match no rule at all, which is none.
  int cover_rank = -1;
  for (int i : candidates(c.cover_index, dir_path, all, buffer)) {
    if (c.rules[i].level >= Level::kRead && c.rank[i] > cover_rank &&
        c.reach(i, dir_path, segments).matches_all_below)
      cover_rank = c.rank[i];
  }
  if (cover_rank < 0) return true;
  for (int i : candidates(c.below_index, dir_path, all, buffer)) {
    if (c.rules[i].level < Level::kRead && c.rank[i] > cover_rank &&
        c.reach(i, dir_path, segments).may_match_below)
      return true;
  }
  return false;
}

}  // namespace agentfense::policy
