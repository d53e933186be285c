#include "policy/glob.h"

#include "common/errors.h"
#include "policy/brace_expansion.h"
#include "policy/char_class.h"

namespace agentfense::policy {
namespace {

// Splits a brace-free pattern at unescaped '/' outside classes.
std::vector<std::string_view> split_segments(std::string_view pattern) {
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == '\\') {
      i += 2;
    } else if (pattern[i] == '[') {
      const std::size_t end = char_class_end(pattern, i);
      if (end == std::string_view::npos) throw UserError("unterminated '[' character class");
      i = end;
    } else if (pattern[i] == '/') {
      segments.push_back(pattern.substr(start, i - start));
      start = ++i;
    } else {
      ++i;
    }
  }
  segments.push_back(pattern.substr(start));
  return segments;
}

struct ParsedSegment {
  std::string regex;
  std::string literal_text;  // the unescaped text, meaningful when !has_wildcard
  bool has_wildcard = false;
};

ParsedSegment parse_segment(std::string_view segment) {
  ParsedSegment parsed;
  std::size_t i = 0;
  while (i < segment.size()) {
    const char c = segment[i];
    if (c == '*') {
      if (i + 1 < segment.size() && segment[i + 1] == '*') {
        throw UserError("'**' must be a whole path segment, as in 'a/**/b'");
      }
      parsed.regex += char_class_regex(any_segment_byte()) + "*";
      parsed.has_wildcard = true;
      ++i;
    } else if (c == '?') {
      parsed.regex += char_class_regex(any_segment_byte());
      parsed.has_wildcard = true;
      ++i;
    } else if (c == '[') {
      const std::size_t end = char_class_end(segment, i);  // split_segments checked it
      parsed.regex += char_class_regex(parse_char_class(segment.substr(i, end - i)));
      parsed.has_wildcard = true;
      i = end;
    } else {
      if (c == '\\') {
        if (i + 1 == segment.size()) throw UserError("pattern ends with a lone '\\'");
        ++i;
        if (segment[i] == '/')
          throw UserError("'\\/' is not allowed: '/' always separates segments");
      }
      const auto byte = static_cast<unsigned char>(segment[i]);
      if (byte == 0) throw UserError("pattern contains a NUL byte");
      parsed.regex += literal_byte_regex(byte);
      parsed.literal_text += static_cast<char>(byte);
      ++i;
    }
  }
  return parsed;
}

GlobAlternative parse_alternative(std::string_view pattern) {
  GlobAlternative alternative;
  for (std::string_view raw : split_segments(pattern)) {
    if (raw == "**") {
      alternative.push_back(GlobSegment{.globstar = true, .regex = {}});
      continue;
    }
    ParsedSegment parsed = parse_segment(raw);
    if (!parsed.has_wildcard) {
      // Paths are normalized, so "a//b" and "a/./b" can only mean "a/b".
      if (parsed.literal_text.empty() || parsed.literal_text == ".") continue;
      if (parsed.literal_text == "..") throw UserError("'..' segments are not allowed");
    }
    alternative.push_back(GlobSegment{.globstar = false,
                                      .regex = std::move(parsed.regex),
                                      .literal = !parsed.has_wildcard,
                                      .literal_text = std::move(parsed.literal_text)});
  }
  return alternative;
}

}  // namespace

bool ends_with_unescaped_slash(std::string_view pattern) {
  if (pattern.empty() || pattern.back() != '/') return false;
  std::size_t backslashes = 0;
  for (std::size_t i = pattern.size() - 1; i-- > 0 && pattern[i] == '\\';) ++backslashes;
  return backslashes % 2 == 0;
}

std::string_view glob_body(std::string_view pattern) {
  while (!pattern.empty() && pattern.front() == '/') pattern.remove_prefix(1);
  while (ends_with_unescaped_slash(pattern)) pattern.remove_suffix(1);
  return pattern;
}

std::size_t count_wildcard_segments(const std::vector<GlobAlternative>& alternatives) {
  std::size_t count = 0;
  for (const GlobAlternative& alternative : alternatives)
    for (const GlobSegment& segment : alternative)
      if (!segment.globstar && !segment.literal) ++count;
  return count;
}

std::vector<GlobAlternative> parse_glob(std::string_view body) {
  std::vector<GlobAlternative> alternatives;
  for (const std::string& expanded : expand_braces(body)) {
    alternatives.push_back(parse_alternative(expanded));
  }
  return alternatives;
}

std::string glob_path_regex(const std::vector<GlobAlternative>& alternatives) {
  // "**" is "(/segment)*" and each segment is non-empty, so "**/*" does not match the
  // root and "a/**" matches "a" itself.
  const std::string globstar = "(?:/" + char_class_regex(any_segment_byte()) + "+)*";
  std::string regex = "(?:";
  for (std::size_t a = 0; a < alternatives.size(); ++a) {
    if (a > 0) regex += "|";
    for (const GlobSegment& segment : alternatives[a]) {
      regex += segment.globstar ? globstar : "/" + segment.regex;
    }
  }
  return regex + ")";
}

std::string literal_path_regex(std::string_view path_text) {
  std::string regex;
  for (char c : path_text) regex += literal_byte_regex(static_cast<unsigned char>(c));
  return regex;
}

std::size_t literal_prefix_length(std::string_view body) {
  std::size_t length = 0;
  for (std::size_t i = 0; i < body.size(); ++i, ++length) {
    const char c = body[i];
    if (c == '*' || c == '?' || c == '[' || c == '{') break;
    if (c == '\\') ++i;
  }
  return length;
}

}  // namespace agentfense::policy
