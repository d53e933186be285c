// The RE2 options every policy regex is compiled with, and how much memory each
// automaton may take.
//
// RE2's max_mem bounds an automaton's program and the DFA it builds lazily, state by
// state, from the texts it matches. At 64 MiB for each, names made up inside a sandbox
// grew every automaton of its fs process towards that: two small rules (`**/*a` and
// twenty `?`, far under any compile charge) took the fs process from 6 to 180 MiB and
// the server by 95 MiB (sweep Z, Z1). An automaton now starts with a small budget and
// gets the large one only when its program does not fit in the small one. Past its
// budget a DFA drops its states and builds them again (slower, never a different
// answer); an RE2 whose DFA cannot run falls back to its NFA.
#pragma once

#include <re2/re2.h>

#include <cstdint>

namespace agentfense::policy {

// A set of all the rules' regexes (the policy's match, its reach indexes).
inline constexpr std::int64_t kSetMemory = std::int64_t{8} << 20;
// One path segment's regex (RuleShape): matched against one name, at most 255 bytes.
inline constexpr std::int64_t kSegmentMemory = std::int64_t{256} << 10;
// Large rule sets (thousands of patterns) must still compile into one automaton.
inline constexpr std::int64_t kLargeMemory = std::int64_t{64} << 20;

// Latin-1 so that each path byte is one character: names need not be valid UTF-8, and
// "[^/]"-style classes can never skip over or stumble on an invalid sequence.
inline re2::RE2::Options path_regex_options(std::int64_t max_mem) {
  re2::RE2::Options options(re2::RE2::Latin1);
  options.set_log_errors(false);
  options.set_max_mem(max_mem);
  return options;
}

}  // namespace agentfense::policy
