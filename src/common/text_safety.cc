#include "common/text_safety.h"

#include <cstdint>
#include <cstdio>

namespace agentfense {
namespace {

// Length of the well-formed UTF-8 sequence at the start of `text`, or 0 when malformed.
std::size_t utf8_sequence_length(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length;
  std::uint32_t code;
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    code = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    code = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3f);
  }
  const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
  const bool surrogate = code >= 0xd800 && code <= 0xdfff;
  if (overlong || surrogate || code > 0x10ffff) return 0;
  return length;
}

void append_hex_escape(std::string& out, unsigned value, const char* format) {
  char text[12];
  std::snprintf(text, sizeof text, format, value);
  out += text;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  while (!text.empty()) {
    const std::size_t length = utf8_sequence_length(text);
    if (length == 0) return false;
    text.remove_prefix(length);
  }
  return true;
}

std::string quote_path(std::string_view path) {
  bool plain = true;
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '"' || c == '\\') plain = false;
  }
  if (plain) return std::string(path);
  // The C escapes git uses, and the letter each is written with.
  constexpr std::string_view kEscaped = "\a\b\t\n\v\f\r\"\\";
  constexpr std::string_view kLetters = "abtnvfr\"\\";
  std::string out = "\"";
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (const std::size_t i = kEscaped.find(c); i != std::string_view::npos) {
      out += '\\';
      out += kLetters[i];
    } else if (byte < 0x20 || byte >= 0x7f) {
      append_hex_escape(out, byte, "\\%03o");
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string terminal_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const auto lead = static_cast<unsigned char>(text.front());
    const std::size_t length = utf8_sequence_length(text);
    if (length == 0) {
      append_hex_escape(out, lead, "\\x%02x");
      text.remove_prefix(1);
      continue;
    }
    const bool c0 = length == 1 && (lead < 0x20 || lead == 0x7f) && lead != '\n' && lead != '\t';
    // U+0080..U+009F (C1 controls, e.g. CSI) are 0xc2 0x80..0x9f in UTF-8.
    const bool c1 = length == 2 && lead == 0xc2 && static_cast<unsigned char>(text[1]) < 0xa0;
    if (c0) {
      append_hex_escape(out, lead, "\\x%02x");
    } else if (c1) {
      append_hex_escape(out, static_cast<unsigned char>(text[1]), "\\u%04x");
    } else {
      out.append(text.substr(0, length));
    }
    text.remove_prefix(length);
  }
  return out;
}

}  // namespace agentfense
