// Glob character classes ("[a-z]", "[!.]") and the single-character wildcard "?",
// represented as the set of bytes they may match inside one path segment.
#pragma once

#include <bitset>
#include <cstddef>
#include <string>
#include <string_view>

namespace agentfense::policy {

using ByteSet = std::bitset<256>;

// Index just past the ']' closing the class whose '[' is at text[open], or npos when the
// class is unterminated. Follows the same rules as parse_char_class: a ']' right after
// "[" or "[!" is a member, and a backslash escapes the next byte.
std::size_t char_class_end(std::string_view text, std::size_t open);

// Parses a whole class, brackets included. Classes never match '/' (a class cannot
// cross segments) nor NUL. Only ASCII members are supported: a byte-wise class could not
// say "this one UTF-8 character". Throws UserError describing the problem.
ByteSet parse_char_class(std::string_view bracketed);

// What "?" matches: any byte of a segment.
ByteSet any_segment_byte();

// A regex (RE2, Latin-1 mode) matching one character from `bytes`. When the set admits
// UTF-8 lead bytes, a whole multi-byte UTF-8 sequence also counts as one character, so
// "caf?" matches "café".
std::string char_class_regex(const ByteSet& bytes);

// `byte` as a regex literal (Latin-1 mode).
std::string literal_byte_regex(unsigned char byte);

}  // namespace agentfense::policy
