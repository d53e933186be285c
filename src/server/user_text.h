// Text that came from a client (paths, ids, commands, names) inside error messages and
// logs. Messages are one line of readable UTF-8 (api.h), so such text is escaped, never
// passed raw: a NUL must not cut a message short (C strings end there), control bytes
// must not reach a terminal or a log viewer (ESC sequences, fake newlines), and bytes
// that are not UTF-8 must not be silently replaced or dropped. Header-only: ApiError's
// constructor uses it, and every library that throws ApiError includes api.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace agentfense::server {

namespace user_text_detail {

// Length of the valid UTF-8 sequence at `text[at]` (1..4), or 0 when it is not one
// (bad lead byte, truncated, overlong, surrogate, beyond U+10FFFF).
inline std::size_t utf8_sequence(std::string_view text, std::size_t at, char32_t& code_point) {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(text[i]); };
  const std::uint8_t lead = byte(at);
  std::size_t length;
  char32_t minimum;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, minimum = 0x80, code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, minimum = 0x800, code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, minimum = 0x10000, code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(at + i) & 0x3F);
  }
  if (code_point < minimum || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF))
    return 0;
  return length;
}

inline void append_hex(std::string& out, const char* prefix, unsigned value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += prefix;
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(value >> shift) & 0xF];
}

// Code points that reorder or hide text on display: C1 controls and the bidi controls.
inline bool is_invisible_control(char32_t c) {
  return (c >= 0x80 && c <= 0x9F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) ||
         c == 0x200E || c == 0x200F || c == 0x061C;
}

inline std::string escape(std::string_view text, bool escape_backslash) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const auto c = static_cast<std::uint8_t>(text[at]);
    char32_t code_point = 0;
    const std::size_t length = utf8_sequence(text, at, code_point);
    if (length == 0) {
      append_hex(out, "\\x", c, 2);
      ++at;
      continue;
    }
    if (length == 1) {
      if (c == '\\' && escape_backslash)
        out += "\\\\";
      else if (c == '\n')
        out += "\\n";
      else if (c == '\t')
        out += "\\t";
      else if (c == '\r')
        out += "\\r";
      else if (c < 0x20 || c == 0x7F)
        append_hex(out, "\\x", c, 2);
      else
        out += static_cast<char>(c);
    } else if (is_invisible_control(code_point)) {
      append_hex(out, "\\u", static_cast<unsigned>(code_point), 4);
    } else {
      out.append(text.substr(at, length));
    }
    at += length;
  }
  return out;
}

}  // namespace user_text_detail

// The offset of the first byte that is not part of valid UTF-8, or npos.
inline std::size_t first_invalid_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    char32_t code_point = 0;
    const std::size_t length = user_text_detail::utf8_sequence(text, at, code_point);
    if (length == 0) return at;
    at += length;
  }
  return std::string_view::npos;
}

inline bool is_valid_utf8(std::string_view text) {
  return first_invalid_utf8(text) == std::string_view::npos;
}

// Client text for a message: printable UTF-8 kept; `\` -> `\\`; \n \t \r; other
// control bytes and bytes that are not UTF-8 -> \xNN; C1 and bidi controls -> \uNNNN.
// Distinct inputs render distinctly.
inline std::string escape_user_text(std::string_view text) {
  return user_text_detail::escape(text, true);
}

// The last pass over a whole message before it leaves the server: the same escapes
// except `\`, so text a site already escaped is not escaped twice.
inline std::string printable_message(std::string_view message) {
  return user_text_detail::escape(message, false);
}

}  // namespace agentfense::server
