// One rule after validation: its regex for the shared RE2::Set, its precedence key and
// its shape for subtree questions.
#pragma once

#include <cstddef>
#include <string>

#include "policy/compile_budget.h"
#include "policy/reach_regex.h"
#include "policy/rule.h"
#include "policy/subtree_reach.h"

namespace agentfense::policy {

// Longest accepted pattern; longer ones are rejected rather than risk huge automata.
inline constexpr std::size_t kMaxPatternLength = 4096;

struct CompiledRule {
  PatternType type = PatternType::kGlob;  // after the trailing-"/" rule
  std::string regex;                      // over the decorated path text (see policy.cc)
  std::size_t literal_prefix = 0;
  RuleShape shape;
  ReachRegexes reach;  // where `shape` may answer true, for Policy's reach index
};

// Validates rule number `number` (1-based) and compiles it, adding what it costs to
// `spent`. Throws UserError starting with rule_error_prefix(), also when the rules so far
// exceed a kMaxPolicy* bound (naming it).
CompiledRule compile_rule(const Rule& rule, int number, CompileBudget& spent);

// `rule 3 ("src/[a-"): ` -- how every rule error starts (a long pattern shortened).
std::string rule_error_prefix(const Rule& rule, int number);

}  // namespace agentfense::policy
