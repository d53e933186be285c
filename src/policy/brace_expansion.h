// "{a,b}" alternatives in glob patterns, expanded up front so that the rest of the glob
// machinery only sees brace-free patterns. Expanding (rather than translating braces to
// regex alternation) keeps "**" a whole-segment token even when braces contain "/",
// e.g. "{src,lib/**}/*.py".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace agentfense::policy {

// More alternatives than this is almost certainly a mistake, and each one costs a regex.
inline constexpr std::size_t kMaxBraceAlternatives = 256;
// The alternatives' text in all: 256 alternatives of a 4 KB pattern would be 1 MB, built
// (and parsed into segments) before anything else could refuse it.
inline constexpr std::size_t kMaxBraceExpandedBytes = 64 * 1024;

// Expands nested "{a,b}" groups into every brace-free pattern they denote, in order.
// Backslash escapes and "[...]" classes are copied untouched (a "{" inside them is not a
// group). "{a}" is a one-alternative group and "{}" matches the empty string. A ','
// outside any group is an ordinary character. Throws UserError on an unterminated "{",
// an unmatched "}", nesting deeper than 32, more than kMaxBraceAlternatives results or
// more than kMaxBraceExpandedBytes of them, before building them.
std::vector<std::string> expand_braces(std::string_view pattern);

}  // namespace agentfense::policy
