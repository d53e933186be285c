#include "policy/level.h"

#include "policy/text_util.h"

namespace agentfense::policy {

std::string_view to_string(Level level) {
  switch (level) {
    case Level::kNone:
      return "none";
    case Level::kView:
      return "view";
    case Level::kRead:
      return "read";
    case Level::kWrite:
      return "write";
  }
  return "invalid";
}

std::optional<Level> parse_level(std::string_view text) {
  // The wire (protobuf enum) spelling is the short name with a prefix.
  text = strip_prefix_ignoring_case(text, "PERMISSION_");
  for (Level level : {Level::kNone, Level::kView, Level::kRead, Level::kWrite}) {
    if (equals_ignoring_case(text, to_string(level))) return level;
  }
  return std::nullopt;
}

}  // namespace agentfense::policy
