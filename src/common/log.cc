#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "common/text_safety.h"

namespace agentfense::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kText};
std::atomic<int> g_fd{STDERR_FILENO};
// Orders whole lines from this process even when a long line needs several write(2)s.
std::mutex g_write_mutex;

// Invalid UTF-8 in a field (a path, command output) must not make logging throw. Every
// character outside ASCII is written as \uNNNN: client text (commands, paths) may hold C1
// and bidi controls and line separators, which a log viewer would act on (a forged line,
// text shown reordered); JSON readers decode them back.
std::string dump_json(const Fields& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/true, Fields::error_handler_t::replace);
}

std::string timestamp_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[40];
  const size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + length, sizeof text - length, ".%03dZ", static_cast<int>(ms % 1000));
  return text;
}

std::string_view upper_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarn:
      return "WARN";
    case Level::kError:
      return "ERROR";
  }
  return "INFO";
}

// A text-format token is written bare when it is plain: readable names in other scripts
// stay readable; anything a viewer would act on is quoted (and then \u-escaped).
bool needs_quoting(std::string_view text) {
  if (text.empty()) return true;
  for (const unsigned char c : text) {
    if (c <= ' ' || c == '"' || c == '=' || c == 0x7f) return true;
  }
  return has_display_controls(text);
}

void append_text_token(std::string& line, const std::string& token) {
  line += needs_quoting(token) ? dump_json(Fields(token)) : token;
}

std::string text_line(Level level, std::string_view event, const Fields& fields) {
  std::string line = timestamp_now();
  line += ' ';
  line += upper_name(level);
  line += ' ';
  append_text_token(line, std::string(event));
  const auto append_field = [&line](const std::string& key, const Fields& value) {
    line += ' ';
    append_text_token(line, key);
    line += '=';
    append_text_token(line, value.is_string() ? value.get<std::string>() : dump_json(value));
  };
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) append_field(key, value);
  } else if (!fields.is_null()) {
    append_field("fields", fields);
  }
  line += '\n';
  return line;
}

std::string json_line(Level level, std::string_view event, const Fields& fields) {
  Fields entry = Fields::object();
  entry["ts"] = timestamp_now();
  entry["level"] = to_string(level);
  entry["event"] = event;
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) {
      // A field must not overwrite the envelope; keep it under a distinct name.
      const bool reserved = key == "ts" || key == "level" || key == "event";
      entry[reserved ? "_" + key : key] = value;
    }
  } else if (!fields.is_null()) {
    entry["fields"] = fields;
  }
  return dump_json(entry) + '\n';
}

void write_all(int fd, std::string_view data) {
  std::lock_guard lock(g_write_mutex);
  while (!data.empty()) {
    const ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0 && errno == EINTR) continue;
    // A log line that cannot be written has nowhere to be reported; dropping it is
    // better than failing the operation that logged it.
    if (written <= 0) return;
    data.remove_prefix(static_cast<size_t>(written));
  }
}

}  // namespace

std::optional<Level> parse_level(std::string_view text) {
  if (text == "debug") return Level::kDebug;
  if (text == "info") return Level::kInfo;
  if (text == "warn") return Level::kWarn;
  if (text == "error") return Level::kError;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view text) {
  if (text == "text") return Format::kText;
  if (text == "json") return Format::kJson;
  return std::nullopt;
}

std::string_view to_string(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

std::string_view to_string(Format format) {
  return format == Format::kJson ? "json" : "text";
}

void configure(Level level, Format format) {
  g_level = level;
  g_format = format;
}

void set_output_fd(int fd) {
  g_fd = fd;
}

bool enabled(Level level) {
  return level >= g_level.load();
}

std::string format_line(Level level, std::string_view event, const Fields& fields, Format format) {
  return format == Format::kJson ? json_line(level, event, fields)
                                 : text_line(level, event, fields);
}

void write(Level level, std::string_view event, const Fields& fields) {
  if (!enabled(level)) return;
  try {
    write_all(g_fd.load(), format_line(level, event, fields, g_format.load()));
  } catch (...) {
    // Out of memory while formatting: same reasoning as a failed write.
  }
}

}  // namespace agentfense::log
