// Glob patterns compiled to RE2 (Latin-1 mode, so every path byte is one character and
// non-UTF-8 names are still matched).
//
// Syntax, over the path without its leading "/":
//   *       any run of bytes within one segment (including a leading "."; unlike the
//           shell, "*" matches hidden files, so "**/*" really means everything)
//   ?       one character within a segment (a whole UTF-8 sequence counts as one)
//   [...]   one character from the class; "[!...]" or "[^...]" negates; ASCII only
//   {a,b}   alternatives, nestable, may contain "/" and "**"
//   **      as a whole segment: zero or more whole segments ("a/**" matches "a" too)
//   \c      the byte c literally
// Empty and "." segments are dropped; ".." segments are rejected.
//
// A path is matched as the text "/seg1/seg2" ("" for the root), so each segment's
// regex is preceded by "/".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace agentfense::policy {

struct GlobSegment {
  bool globstar = false;
  std::string regex;  // matches one whole segment; empty for a globstar
  // Without wildcards the segment matches only this name (unescaped): compared as bytes.
  bool literal = false;
  std::string literal_text;
};

// One brace-free alternative of a pattern.
using GlobAlternative = std::vector<GlobSegment>;

// Whether `pattern` ends with a "/" that is not escaped: a directory rule.
bool ends_with_unescaped_slash(std::string_view pattern);

// `pattern` without its leading "/"s and its unescaped trailing ones: what parse_glob takes.
std::string_view glob_body(std::string_view pattern);

// Parses `body` (no leading or trailing "/") into its alternatives. Throws UserError
// describing the problem (the caller adds which rule it was).
std::vector<GlobAlternative> parse_glob(std::string_view body);

// The segments with wildcards (neither literal nor "**") over all `alternatives`: each is
// a regex of its own (the policy bounds them; compile_estimate.h charges them).
std::size_t count_wildcard_segments(const std::vector<GlobAlternative>& alternatives);

// Regex for a whole path text ("/a/b", or "" for the root) matching `alternatives`.
std::string glob_path_regex(const std::vector<GlobAlternative>& alternatives);

// Regex matching exactly the path text `path_text`, byte for byte.
std::string literal_path_regex(std::string_view path_text);

// Number of characters before the first unescaped glob metacharacter (* ? [ {), an
// escape pair counting as one: the "specificity" used to order rules.
std::size_t literal_prefix_length(std::string_view body);

}  // namespace agentfense::policy
