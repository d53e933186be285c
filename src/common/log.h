// A tiny structured logger shared by the server and the fs process.
//
//   log::info("sandbox.started", {{"sandbox_id", id}, {"ms", 12}});
//
// An entry is an event name (a stable dotted word that can be grepped and alerted on)
// plus fields. Two line formats:
//   text: 2026-11-23T10:00:00.123Z INFO sandbox.started sandbox_id=sb_1 ms=12
//   json: {"ts":"2026-11-23T10:00:00.123Z","level":"info","event":"sandbox.started",
//          "sandbox_id":"sb_1","ms":12}
// Fields keep the order they were given in. In text, a value that is empty or contains
// spaces, quotes, '=' or control characters is written JSON-quoted so a line always
// splits unambiguously into key=value pairs.
//
// Thread-safe: each line is built in memory and handed to the kernel with a single
// write(2), so lines from concurrent threads (and, up to PIPE_BUF, other processes
// sharing stderr) never interleave. Logging never throws and never fails the caller.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace agentfense::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kText, kJson };

// Fields of one entry, in the order given. Accepts plain nlohmann::json objects too.
using Fields = nlohmann::ordered_json;

// "debug" | "info" | "warn" | "error"; nullopt for anything else.
std::optional<Level> parse_level(std::string_view text);
// "text" | "json"; nullopt for anything else.
std::optional<Format> parse_format(std::string_view text);
std::string_view to_string(Level level);
std::string_view to_string(Format format);

// Entries below `level` are dropped. Defaults: info, text.
void configure(Level level, Format format);
// Where lines go; default 2 (stderr). The fd is borrowed, not owned: tests point it at
// a pipe or memfd and restore 2 afterwards.
void set_output_fd(int fd);
bool enabled(Level level);

// Renders one line (with trailing '\n') without writing it; used by write() and tests.
std::string format_line(Level level, std::string_view event, const Fields& fields, Format format);

void write(Level level, std::string_view event, const Fields& fields = Fields::object());

inline void debug(std::string_view event, const Fields& fields = Fields::object()) {
  write(Level::kDebug, event, fields);
}
inline void info(std::string_view event, const Fields& fields = Fields::object()) {
  write(Level::kInfo, event, fields);
}
inline void warn(std::string_view event, const Fields& fields = Fields::object()) {
  write(Level::kWarn, event, fields);
}
inline void error(std::string_view event, const Fields& fields = Fields::object()) {
  write(Level::kError, event, fields);
}

}  // namespace agentfense::log
