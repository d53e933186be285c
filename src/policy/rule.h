// One permission rule as written by a user or a preset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "policy/level.h"

namespace agentfense::policy {

// glob: the pattern is a glob over the whole path.
// directory: the pattern names a directory; it matches that directory and everything
//   beneath it (a trailing "/" on a glob pattern means this type).
// file: the pattern names exactly one path, literally (no glob characters interpreted).
enum class PatternType : std::uint8_t { kGlob = 0, kDirectory = 1, kFile = 2 };

std::string_view to_string(PatternType type);
// "glob"/"directory"/"file" (any case) and "PATTERN_TYPE_GLOB"... wire names.
std::optional<PatternType> parse_pattern_type(std::string_view text);

struct Rule {
  std::string pattern;
  Level level = Level::kNone;
  std::int32_t priority = 0;
  PatternType type = PatternType::kGlob;

  bool operator==(const Rule&) const = default;
};

// "pattern=level[:priority]" as given to `agentfense run --rule`. Throws UserError
// naming the text when malformed.
Rule parse_rule_flag(std::string_view text);

// Human-readable one-liner used in explain output and error messages:
// `/secrets/** -> none (priority 100, glob)`.
std::string describe(const Rule& rule);

}  // namespace agentfense::policy
