#include "cli/size_parse.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "common/errors.h"

namespace agentfense::cli {

std::int64_t parse_size(const std::string& text, const std::string& flag) {
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  std::int64_t scale = 1;
  const std::string suffix = end ? end : "";
  if (suffix == "k" || suffix == "K")
    scale = 1LL << 10;
  else if (suffix == "m" || suffix == "M")
    scale = 1LL << 20;
  else if (suffix == "g" || suffix == "G")
    scale = 1LL << 30;
  else if (!suffix.empty())
    scale = 0;
  if (text.empty() || errno != 0 || value <= 0 || scale == 0 || end == text.c_str())
    throw UserError(flag + " expects a positive size like 64M or 1G, got '" + text + "'");
  // value * scale must not overflow: it wrapped to 0 ("no limit") or a small quota.
  if (value > std::numeric_limits<std::int64_t>::max() / scale)
    throw UserError(flag + " is too large: '" + text + "' (at most 8589934591G)");
  return value * scale;
}

std::chrono::milliseconds timeout_from_seconds(double seconds, const std::string& flag) {
  // `!(a && b)` also refuses NaN and infinity, which the cast below cannot represent.
  if (!(seconds >= 0 && seconds <= kMaxTimeoutSeconds)) {
    char given[32];
    std::snprintf(given, sizeof given, "%g", seconds);
    throw UserError(flag + " must be a number of seconds from 0 to " +
                    std::to_string(static_cast<long long>(kMaxTimeoutSeconds)) + ", got " + given);
  }
  // Rounded up: a positive timeout under 1 ms truncated to 0 ms, which means "never".
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000)));
}

}  // namespace agentfense::cli
