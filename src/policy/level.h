// The four access levels a path can have, ordered from least to most access.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace agentfense::policy {

enum class Level : std::uint8_t { kNone = 0, kView = 1, kRead = 2, kWrite = 3 };

// "none" | "view" | "read" | "write".
std::string_view to_string(Level level);

// Accepts "none"/"view"/"read"/"write" (any case) and the wire names
// "PERMISSION_NONE" ... "PERMISSION_WRITE". Anything else: nullopt.
std::optional<Level> parse_level(std::string_view text);

}  // namespace agentfense::policy
