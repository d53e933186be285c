#include "policy/char_class.h"

#include <cstdio>

#include "common/errors.h"

namespace agentfense::policy {
namespace {

constexpr unsigned char kFirstUtf8LeadByte = 0xC0;

std::string hex_escape(unsigned char byte) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "\\x%02x", byte);
  return buffer;
}

ByteSet without_separators(ByteSet bytes) {
  bytes.reset('/');
  bytes.reset(0);
  return bytes;
}

}  // namespace

std::size_t char_class_end(std::string_view text, std::size_t open) {
  std::size_t i = open + 1;
  if (i < text.size() && (text[i] == '!' || text[i] == '^')) ++i;
  if (i < text.size() && text[i] == ']') ++i;  // "[]...]": a leading ']' is a member
  while (i < text.size()) {
    if (text[i] == '\\') {
      i += 2;
    } else if (text[i] == ']') {
      return i + 1;
    } else {
      ++i;
    }
  }
  return std::string_view::npos;
}

ByteSet parse_char_class(std::string_view bracketed) {
  // bracketed = "[" members "]", as delimited by char_class_end.
  std::string_view members = bracketed.substr(1, bracketed.size() - 2);
  bool negated = false;
  if (!members.empty() && (members.front() == '!' || members.front() == '^')) {
    negated = true;
    members.remove_prefix(1);
  }
  ByteSet set;
  std::size_t i = 0;
  // Reads one member byte at i (honouring a backslash escape) and advances past it.
  auto next_member = [&]() -> unsigned char {
    if (members[i] == '\\' && i + 1 < members.size()) ++i;
    const auto byte = static_cast<unsigned char>(members[i++]);
    if (byte >= 0x80) {
      throw UserError("non-ASCII characters inside [...] are not supported");
    }
    return byte;
  };
  while (i < members.size()) {
    if (members[i] == '[' && i + 1 < members.size() && members[i + 1] == ':') {
      throw UserError("POSIX classes like [:alpha:] are not supported");
    }
    const unsigned char low = next_member();
    if (i + 1 < members.size() && members[i] == '-') {
      ++i;  // the '-' of a range; a trailing '-' is a plain member
      const unsigned char high = next_member();
      if (high < low) throw UserError("invalid range in character class");
      for (unsigned value = low; value <= high; ++value) set.set(value);
    } else {
      set.set(low);
    }
  }
  if (negated) set.flip();
  set = without_separators(set);
  if (set.none()) throw UserError("character class matches nothing");
  return set;
}

ByteSet any_segment_byte() {
  return without_separators(ByteSet().set());
}

std::string char_class_regex(const ByteSet& bytes) {
  std::string ranges;
  for (unsigned value = 0; value < 256;) {
    if (!bytes.test(value)) {
      ++value;
      continue;
    }
    unsigned last = value;
    while (last + 1 < 256 && bytes.test(last + 1)) ++last;
    ranges += hex_escape(static_cast<unsigned char>(value));
    if (last != value) ranges += "-" + hex_escape(static_cast<unsigned char>(last));
    value = last + 1;
  }
  std::string single_byte = "[" + ranges + "]";
  bool admits_lead_byte = false;
  for (unsigned value = kFirstUtf8LeadByte; value < 256; ++value) {
    admits_lead_byte = admits_lead_byte || bytes.test(value);
  }
  if (!admits_lead_byte) return single_byte;
  return "(?:[\\xc0-\\xff][\\x80-\\xbf]{1,3}|" + single_byte + ")";
}

std::string literal_byte_regex(unsigned char byte) {
  const bool plain = (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
                     (byte >= '0' && byte <= '9') || byte == '_';
  return plain ? std::string(1, static_cast<char>(byte)) : hex_escape(byte);
}

}  // namespace agentfense::policy
