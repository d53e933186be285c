// The RE2 options every policy regex is compiled with.
#pragma once

#include <re2/re2.h>

namespace agentfense::policy {

// Latin-1 so that each path byte is one character: names need not be valid UTF-8, and
// "[^/]"-style classes can never skip over or stumble on an invalid sequence.
inline re2::RE2::Options path_regex_options() {
  re2::RE2::Options options(re2::RE2::Latin1);
  options.set_log_errors(false);
  // Large rule sets (hundreds of patterns) must still compile into one automaton.
  options.set_max_mem(int64_t{64} << 20);
  return options;
}

}  // namespace agentfense::policy
