#include "cli/size_parse.h"

#include <cctype>
#include <cstdlib>

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
  return value * scale;
}

}  // namespace agentfense::cli
