#include "policy/compile_estimate.h"

#include "common/errors.h"
#include "policy/compiled_rule.h"
#include "policy/glob.h"

namespace agentfense::policy {
namespace {

std::int64_t estimate_one(std::string_view pattern) {
  const std::int64_t least =
      kCompileBytesPerRule + kCompileBytesPerRegexByte * static_cast<std::int64_t>(pattern.size());
  if (pattern.size() > kMaxPatternLength) return least;
  std::vector<GlobAlternative> alternatives;
  try {
    alternatives = parse_glob(glob_body(pattern));
  } catch (const UserError&) {
    return least;  // refused before anything is built
  }
  std::int64_t bytes =
      kCompileBytesPerRule +
      kCompileBytesPerAlternative * static_cast<std::int64_t>(alternatives.size()) +
      kCompileBytesPerWildcardSegment *
          static_cast<std::int64_t>(count_wildcard_segments(alternatives));
  for (const GlobAlternative& alternative : alternatives) {
    for (const GlobSegment& segment : alternative) {
      const std::size_t text = segment.literal ? segment.literal_text.size() : segment.regex.size();
      bytes += kCompileBytesPerRegexByte * static_cast<std::int64_t>(text + 1);
    }
  }
  return bytes;
}

}  // namespace

std::int64_t estimate_compile_bytes(const std::vector<std::string_view>& patterns) {
  std::int64_t bytes = 0;
  for (const std::string_view pattern : patterns) bytes += estimate_one(pattern);
  return bytes;
}

}  // namespace agentfense::policy
