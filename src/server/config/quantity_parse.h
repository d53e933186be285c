// Durations and byte sizes as people write them in a config file, and back.
//   durations: "500ms", "30s", "5m", "1h", "1h30m" (units h > m > s > ms, each at most
//              once, largest first); a bare integer is seconds ("30", "0").
//   sizes:     "16MiB", "512M", "1G", "4k", "1048576" (bytes). K/M/G/T are always binary
//              (1024-based) with or without "i"/"B", matching how memory limits are
//              written elsewhere in AgentFense (--memory 512M).
// Parsers return nullopt for anything malformed, negative or too large to hold, so the
// caller can name the key and the source in its error message.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agentfense::server {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// Shortest form parse_duration() reads back to the same value: 5400000ms -> "1h30m".
std::string format_duration(std::chrono::milliseconds duration);

std::optional<std::int64_t> parse_size(std::string_view text);
// Largest binary unit that divides exactly: 16777216 -> "16MiB", 1000 -> "1000".
std::string format_size(std::int64_t bytes);

}  // namespace agentfense::server
