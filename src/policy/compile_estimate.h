// What compiling a policy takes in memory at its peak, estimated from its patterns before
// anything is built: a server compiling rules for many callers at once bounds them by
// this (server/sandbox_service.h, compile_charge). The size of the patterns alone was not
// enough: nine short patterns of eight brace groups each (2,304 alternatives, 18,432
// wildcard segments) were estimated at 61 KB and took 82 MB each (sweep X, X1).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace agentfense::policy {

// Measured with `agentfense explain` (peak RSS over its 14 MB baseline): 10,000 literal
// rules of 60 bytes 64 MB; 19,968 literal alternatives in 78 rules 34 MB; 20,000 wildcard
// segments in 1,000 rules 84 MB; 500 rules of 4 KB 24 MB. Each term is rounded up.
// Every alternative's wildcard segments are counted, though a rule compiles each distinct
// one once (subtree_reach.h): for brace groups multiplied together this is an upper bound
// (nine patterns of eight groups: estimated 122 MB, peak 84 MB).
inline constexpr std::int64_t kCompileBytesPerRule = 6 << 10;
inline constexpr std::int64_t kCompileBytesPerAlternative = 2 << 10;
inline constexpr std::int64_t kCompileBytesPerWildcardSegment = 4608;
inline constexpr std::int64_t kCompileBytesPerRegexByte = 16;

// The estimate for rules with these patterns. A pattern the engine would refuse counts as
// its bytes only: its compile fails before building anything.
std::int64_t estimate_compile_bytes(const std::vector<std::string_view>& patterns);

}  // namespace agentfense::policy
