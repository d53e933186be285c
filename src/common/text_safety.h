// Text that came from a sandbox or a client (file names, file content, paths, commands)
// on its way to a person, a log or a wire format that requires UTF-8: the one UTF-8
// decoder and the escapes every outward path shares.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace agentfense {

// The offset of the first byte that is not part of well-formed UTF-8 (bad lead byte,
// truncated, overlong, surrogate, beyond U+10FFFF), or npos.
std::size_t first_invalid_utf8(std::string_view text);
// `text` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD.
std::string with_utf8_replacements(std::string_view text);
// Its longest prefix of at most `max` bytes that ends on a whole character, made without
// rendering more (each bad byte renders as 3: a whole rendering could be 3 times `text`).
std::string with_utf8_replacements(std::string_view text, std::size_t max);
inline bool is_valid_utf8(std::string_view text) {
  return first_invalid_utf8(text) == std::string_view::npos;
}
// The longest prefix of `text` of at most `max` bytes that does not end inside a UTF-8
// character (cut back over continuation bytes).
std::string_view utf8_prefix(std::string_view text, std::size_t max);
// The longest suffix of `text` of at most `max` bytes that does not start inside a UTF-8
// character: at most 3 continuation bytes are skipped (raw bytes may be anything).
std::string_view utf8_suffix(std::string_view text, std::size_t max);
// True when `text` holds anything escape_text would rewrite apart from `\`: a control
// character, a byte that is not UTF-8, a C1, bidi or line-separator code point.
bool has_display_controls(std::string_view text);

// How escape_text treats what it keeps and what it rewrites. Always escaped: control
// characters (as \xNN, or \n \t \r), bytes that are not UTF-8 (\xNN), C1 and bidi
// controls, which reorder or hide text on display (\uNNNN).
struct EscapeStyle {
  bool keep_line_breaks = false;  // '\n' and '\t' pass through (multi-line review text)
  bool escape_backslash = true;   // '\' -> "\\", so distinct inputs render distinctly
};
std::string escape_text(std::string_view text, EscapeStyle style);

// Text for a terminal: lines and tabs kept, nothing that can move the cursor, recolour,
// hide or reorder what a reviewer reads.
inline std::string terminal_safe(std::string_view text) {
  return escape_text(text, {.keep_line_breaks = true, .escape_backslash = false});
}

// A file name quoted the way git quotes paths (core.quotePath): unchanged when it holds
// only printable ASCII other than '"' and '\\'; otherwise wrapped in double quotes with
// \a \b \t \n \v \f \r \" \\ escapes and every other control or non-ASCII byte as a
// three-digit octal escape. The result is printable ASCII, so a name can never add a
// line or an escape sequence to a review.
std::string quote_path(std::string_view path);

// A workspace path as the API carries it: proto3 strings must be UTF-8, so a path that
// is not is sent quote_path()-quoted (it then starts with '"', which no path does), and
// path_from_wire() turns such a quoted path back into the raw bytes. Lossless both ways.
std::string path_to_wire(std::string_view path);
// Throws UserError for a quoted path with a malformed escape.
std::string path_from_wire(std::string_view text);

}  // namespace agentfense
