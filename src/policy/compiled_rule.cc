#include "policy/compiled_rule.h"

#include "common/errors.h"
#include "policy/glob.h"
#include "policy/policy.h"

namespace agentfense::policy {
namespace {

// Suffixes over the decorated path text "<path>\0d" / "<path>\0f" (see policy.cc).
constexpr std::string_view kAnyKind = "\\x00[df]";
constexpr std::string_view kThisDirectoryOrBelow = "(?:\\x00d|/[\\x01-\\xff]*\\x00[df])";

bool ends_with_unescaped_slash(std::string_view pattern) {
  if (pattern.empty() || pattern.back() != '/') return false;
  std::size_t backslashes = 0;
  for (std::size_t i = pattern.size() - 1; i-- > 0 && pattern[i] == '\\';) ++backslashes;
  return backslashes % 2 == 0;
}

CompiledRule compile_file_rule(std::string_view pattern) {
  if (pattern.back() == '/') throw UserError("a file pattern cannot end with '/'");
  std::string path = normalize_path(pattern);
  const std::string_view path_text = path == "/" ? std::string_view() : std::string_view(path);
  return CompiledRule{
      .type = PatternType::kFile,
      .regex = literal_path_regex(path_text) + std::string(kAnyKind),
      .literal_prefix = path_text.size(),
      .shape = RuleShape(path),
  };
}

CompiledRule compile_glob_rule(std::string_view pattern, PatternType type) {
  if (ends_with_unescaped_slash(pattern)) type = PatternType::kDirectory;
  std::string_view body = pattern;
  while (!body.empty() && body.front() == '/') body.remove_prefix(1);
  while (ends_with_unescaped_slash(body)) body.remove_suffix(1);

  const std::vector<GlobAlternative> alternatives = parse_glob(body);
  const std::string_view suffix =
      type == PatternType::kDirectory ? kThisDirectoryOrBelow : kAnyKind;
  return CompiledRule{
      .type = type,
      .regex = glob_path_regex(alternatives) + std::string(suffix),
      .literal_prefix = literal_prefix_length(body),
      .shape = RuleShape(alternatives, type),
  };
}

}  // namespace

CompiledRule compile_rule(const Rule& rule, int number) {
  try {
    const std::string_view pattern = rule.pattern;
    if (pattern.empty()) throw UserError("empty pattern");
    if (pattern.size() > kMaxPatternLength) {
      throw UserError("pattern longer than " + std::to_string(kMaxPatternLength) + " bytes");
    }
    if (pattern.find('\0') != std::string_view::npos) {
      throw UserError("pattern contains a NUL byte");
    }
    if (rule.type == PatternType::kFile) return compile_file_rule(pattern);
    return compile_glob_rule(pattern, rule.type);
  } catch (const UserError& error) {
    throw UserError(rule_error_prefix(rule, number) + error.what());
  }
}

std::string rule_error_prefix(const Rule& rule, int number) {
  std::string shown = rule.pattern;
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';  // keep the message one printable line
  }
  return "rule " + std::to_string(number) + " (\"" + shown + "\"): ";
}

}  // namespace agentfense::policy
