#include "policy/text_util.h"

#include <charconv>

namespace agentfense::policy {
namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::string_view strip_prefix_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() >= prefix.size() && equals_ignoring_case(text.substr(0, prefix.size()), prefix)) {
    return text.substr(prefix.size());
  }
  return text;
}

std::optional<std::int32_t> parse_int32(std::string_view text) {
  // from_chars rejects a leading '+', which users reasonably write ("=read:+5").
  if (text.size() > 1 && text.front() == '+' && text[1] != '-') text.remove_prefix(1);
  std::int32_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace agentfense::policy
