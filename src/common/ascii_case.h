// ASCII case folding for the protocol words and config values the server compares
// (header names, host names, enum spellings, size suffixes, hashes): locale-free, so a
// host's locale can never make two spellings equal or unequal.
#pragma once

#include <string>
#include <string_view>

namespace agentfense {

constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace agentfense
