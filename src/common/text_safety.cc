#include "common/text_safety.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "common/errors.h"

namespace agentfense {
namespace {

// Length of the well-formed UTF-8 sequence at the start of `text` (1..4), or 0.
std::size_t utf8_sequence(std::string_view text, char32_t& code_point) {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(text[i]); };
  const std::uint8_t lead = byte(0);
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
  if (text.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3F);
  }
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  if (code_point < minimum || code_point > 0x10FFFF || surrogate) return 0;
  return length;
}

// Code points that reorder or hide text on display, or break a line for some readers:
// C1 controls (U+0085 is a line break to Python and some viewers), the bidi controls and
// the line and paragraph separators.
bool is_invisible_control(char32_t c) {
  return (c >= 0x80 && c <= 0x9F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) ||
         c == 0x200E || c == 0x200F || c == 0x061C || c == 0x2028 || c == 0x2029;
}

void append_escape(std::string& out, const char* format, unsigned value) {
  char text[12];
  std::snprintf(text, sizeof text, format, value);
  out += text;
}

// The C escapes git uses, and the letter each is written with.
constexpr std::string_view kQuoted = "\a\b\t\n\v\f\r\"\\";
constexpr std::string_view kQuoteLetters = "abtnvfr\"\\";

}  // namespace

bool has_display_controls(std::string_view text) {
  while (!text.empty()) {
    const auto c = static_cast<std::uint8_t>(text.front());
    char32_t code_point = 0;
    const std::size_t length = utf8_sequence(text, code_point);
    if (length == 0 || c < 0x20 || c == 0x7F || (length > 1 && is_invisible_control(code_point)))
      return true;
    text.remove_prefix(length);
  }
  return false;
}

std::size_t first_invalid_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    char32_t code_point = 0;
    const std::size_t length = utf8_sequence(text.substr(at), code_point);
    if (length == 0) return at;
    at += length;
  }
  return std::string_view::npos;
}

namespace {

bool is_continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

}  // namespace

std::string_view utf8_prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t end = max;
  while (end > 0 && is_continuation_byte(text[end])) --end;
  return text.substr(0, end);
}

std::string_view utf8_suffix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t start = text.size() - max;
  for (int skipped = 0; skipped < 3 && start < text.size() && is_continuation_byte(text[start]);
       ++skipped) {
    ++start;
  }
  return text.substr(start);
}

std::string with_utf8_replacements(std::string_view text) {
  return with_utf8_replacements(text, std::string::npos);
}

std::string with_utf8_replacements(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  while (!text.empty()) {
    const std::size_t bad = first_invalid_utf8(text);
    const std::string_view good = text.substr(0, bad);  // npos: all of it
    if (out.size() + good.size() >= max) {
      out.append(utf8_prefix(good, max - out.size()));
      return out;
    }
    out.append(good);
    if (bad == std::string_view::npos) return out;
    if (out.size() + kReplacement.size() > max) return out;
    out.append(kReplacement);
    text.remove_prefix(bad + 1);
  }
  return out;
}

std::string escape_text(std::string_view text, EscapeStyle style) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const auto c = static_cast<std::uint8_t>(text.front());
    char32_t code_point = 0;
    const std::size_t length = utf8_sequence(text, code_point);
    if (length == 0) {
      append_escape(out, "\\x%02x", c);
      text.remove_prefix(1);
      continue;
    }
    if (length > 1) {
      if (is_invisible_control(code_point)) {
        append_escape(out, "\\u%04x", static_cast<unsigned>(code_point));
      } else {
        out.append(text.substr(0, length));
      }
    } else if ((c == '\n' || c == '\t') && style.keep_line_breaks) {
      out += static_cast<char>(c);
    } else if (c == '\\') {
      out += style.escape_backslash ? "\\\\" : "\\";
    } else if (c == '\n' || c == '\t' || c == '\r') {
      out += c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      append_escape(out, "\\x%02x", c);
    } else {
      out += static_cast<char>(c);
    }
    text.remove_prefix(length);
  }
  return out;
}

std::string quote_path(std::string_view path) {
  bool plain = true;
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '"' || c == '\\') plain = false;
  }
  if (plain) return std::string(path);
  std::string out = "\"";
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (const std::size_t i = kQuoted.find(c); i != std::string_view::npos) {
      out += '\\';
      out += kQuoteLetters[i];
    } else if (byte < 0x20 || byte >= 0x7f) {
      append_escape(out, "\\%03o", byte);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string path_to_wire(std::string_view path) {
  return is_valid_utf8(path) ? std::string(path) : quote_path(path);
}

std::string path_from_wire(std::string_view text) {
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::string(text);
  const auto malformed = [&] { throw UserError("malformed quoted path " + escape_text(text, {})); };
  std::string out;
  for (std::size_t i = 1; i + 1 < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (++i + 1 >= text.size()) malformed();
    if (const std::size_t letter = kQuoteLetters.find(text[i]); letter != std::string_view::npos) {
      out += kQuoted[letter];
      continue;
    }
    unsigned value = 0;
    for (int digit = 0; digit < 3; ++digit, ++i) {
      if (i + 1 >= text.size() || text[i] < '0' || text[i] > '7') malformed();
      value = value * 8 + static_cast<unsigned>(text[i] - '0');
    }
    --i;
    if (value > 0xff || value == 0) malformed();
    out += static_cast<char>(value);
  }
  return out;
}

}  // namespace agentfense
