#include "common/id_range.h"

#include <charconv>
#include <optional>
#include <string_view>

#include "common/errors.h"

namespace agentfense {
namespace {

constexpr uid_t kHighestId = 4294967294u;

std::optional<uid_t> parse_id(std::string_view text) {
  uid_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

IdRange parse_id_range(const std::string& text) {
  const auto dash = text.find('-');
  const auto first = dash == std::string::npos ? std::nullopt : parse_id(text.substr(0, dash));
  const auto last = dash == std::string::npos ? std::nullopt : parse_id(text.substr(dash + 1));
  if (!first || !last || *first == 0 || *first > *last || *last > kHighestId) {
    throw UserError("bad id range '" + text +
                    "' (expected FIRST-LAST, 1 <= FIRST <= LAST <= 4294967294)");
  }
  return {*first, *last};
}

std::string to_string(const IdRange& range) {
  return std::to_string(range.first) + "-" + std::to_string(range.last);
}

}  // namespace agentfense
