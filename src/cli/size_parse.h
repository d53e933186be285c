// Caller-given sizes and durations. Both throw UserError naming the flag.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace agentfense::cli {

// "64M", "1G", "512k", "1048576" -> bytes; refuses what would overflow 64 bits.
std::int64_t parse_size(const std::string& text, const std::string& flag);

// The longest timeout a flag takes (a year): longer overflows the clock arithmetic.
constexpr double kMaxTimeoutSeconds = 365.0 * 24 * 3600;

// SECONDS (0 to kMaxTimeoutSeconds, fractions allowed) -> milliseconds, rounded up so
// that a positive timeout never becomes 0 ("no deadline").
std::chrono::milliseconds timeout_from_seconds(double seconds, const std::string& flag);

}  // namespace agentfense::cli
