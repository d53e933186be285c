#include "common/bearer_token.h"

#include <cctype>

#include "common/ascii_case.h"

namespace agentfense {

std::string bearer_token(const std::string& header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return {};
  if (ascii_lower(std::string_view(header).substr(0, kScheme.size())) != kScheme) return {};
  std::size_t start = kScheme.size();
  while (start < header.size() && header[start] == ' ') ++start;
  std::size_t end = header.size();
  while (end > start && header[end - 1] == ' ') --end;
  const std::string token = header.substr(start, end - start);
  for (char c : token)
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)))
      return {};
  return token;
}

bool same_token(std::string_view presented, std::string_view token) {
  if (presented.size() != token.size()) return false;
  unsigned char difference = 0;
  for (std::size_t i = 0; i < token.size(); ++i)
    difference |= static_cast<unsigned char>(presented[i] ^ token[i]);
  return difference == 0;
}

}  // namespace agentfense
