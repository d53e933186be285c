#include <string>
#include <string_view>

#include "common/errors.h"
#include "policy/policy.h"

namespace agentfense::policy {

std::string normalize_path(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) {
    throw UserError("path contains a NUL byte");
  }
  std::string normalized;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    const std::string_view segment = path.substr(start, slash - start);
    if (segment == "..") {
      throw UserError("path '" + std::string(path) + "' contains '..'");
    }
    if (!segment.empty() && segment != ".") {
      normalized += '/';
      normalized += segment;
    }
    start = slash + 1;
  }
  return normalized.empty() ? "/" : normalized;
}

}  // namespace agentfense::policy
