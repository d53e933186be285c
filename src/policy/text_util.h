// Small ASCII string helpers shared by the parsers of levels, pattern types and flags.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace agentfense::policy {

bool equals_ignoring_case(std::string_view a, std::string_view b);

// `text` without `prefix` when it starts with it (ASCII case-insensitively), else `text`.
std::string_view strip_prefix_ignoring_case(std::string_view text, std::string_view prefix);

// The whole of `text` as a decimal int32 (optional leading '-' or '+'), else nullopt.
std::optional<std::int32_t> parse_int32(std::string_view text);

}  // namespace agentfense::policy
