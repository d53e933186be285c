// Bounds on what compiling one policy may cost (compiled_rule.cc charges them).
#pragma once

#include <cstddef>

namespace agentfense::policy {

// What the rules of one policy may cost to compile, in all. A sandbox's rules come from
// API callers and are compiled by the server and again by the sandbox's fs process:
// unbounded, one 4 KB rule (256 brace alternatives of 2,000 segments) built 512,000
// segment regexes, 505 MB, and one request carries thousands of rules. Charged rule by
// rule before anything is built; honest policies stay far below (a preset: ~40 rules).
inline constexpr std::size_t kMaxPolicyRules = 10000;
inline constexpr std::size_t kMaxPolicyAlternatives = 20000;    // after brace expansion
inline constexpr std::size_t kMaxPolicySegmentRegexes = 20000;  // segments with wildcards
inline constexpr std::size_t kMaxPolicyRegexBytes = std::size_t{2} << 20;  // the shared set's text

struct CompileBudget {
  std::size_t alternatives = 0;
  std::size_t segment_regexes = 0;
  std::size_t regex_bytes = 0;
};

}  // namespace agentfense::policy
