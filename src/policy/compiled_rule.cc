#include "policy/compiled_rule.h"

#include "common/errors.h"
#include "common/text_safety.h"
#include "policy/glob.h"
#include "policy/policy.h"

namespace agentfense::policy {
namespace {

// Suffixes over the decorated path text "<path>\0d" / "<path>\0f" (see policy.cc).
constexpr std::string_view kAnyKind = "\\x00[df]";
constexpr std::string_view kThisDirectoryOrBelow = "(?:\\x00d|/[\\x01-\\xff]*\\x00[df])";

void charge(CompileBudget& spent, std::size_t alternatives, std::size_t segment_regexes,
            std::size_t regex_bytes) {
  spent.alternatives += alternatives;
  spent.segment_regexes += segment_regexes;
  spent.regex_bytes += regex_bytes;
  auto refuse = [](std::size_t limit, const char* what) {
    throw UserError("the rules exceed what one policy may hold: more than " +
                    std::to_string(limit) + " " + what + " in all");
  };
  if (spent.alternatives > kMaxPolicyAlternatives) refuse(kMaxPolicyAlternatives, "alternatives");
  if (spent.segment_regexes > kMaxPolicySegmentRegexes) {
    refuse(kMaxPolicySegmentRegexes, "path segments with wildcards");
  }
  if (spent.regex_bytes > kMaxPolicyRegexBytes) refuse(kMaxPolicyRegexBytes, "bytes of patterns");
}

CompiledRule compile_file_rule(std::string_view pattern, CompileBudget& spent) {
  if (pattern.back() == '/') throw UserError("a file pattern cannot end with '/'");
  std::string path = normalize_path(pattern);
  const std::string_view path_text = path == "/" ? std::string_view() : std::string_view(path);
  std::string regex = literal_path_regex(path_text) + std::string(kAnyKind);
  charge(spent, 1, 0, regex.size());
  return CompiledRule{
      .type = PatternType::kFile,
      .regex = std::move(regex),
      .literal_prefix = path_text.size(),
      .shape = RuleShape(path),
      .reach = file_reach_regexes(path),
  };
}

CompiledRule compile_glob_rule(std::string_view pattern, PatternType type, CompileBudget& spent) {
  if (ends_with_unescaped_slash(pattern)) type = PatternType::kDirectory;
  const std::string_view body = glob_body(pattern);
  const std::vector<GlobAlternative> alternatives = parse_glob(body);
  const std::string_view suffix =
      type == PatternType::kDirectory ? kThisDirectoryOrBelow : kAnyKind;
  std::string regex = glob_path_regex(alternatives) + std::string(suffix);
  charge(spent, alternatives.size(), count_wildcard_segments(alternatives), regex.size());
  return CompiledRule{
      .type = type,
      .regex = std::move(regex),
      .literal_prefix = literal_prefix_length(body),
      .shape = RuleShape(alternatives, type),
      .reach = glob_reach_regexes(alternatives, type),
  };
}

}  // namespace

CompiledRule compile_rule(const Rule& rule, int number, CompileBudget& spent) {
  try {
    const std::string_view pattern = rule.pattern;
    if (pattern.empty()) throw UserError("empty pattern");
    if (pattern.size() > kMaxPatternLength) {
      throw UserError("pattern longer than " + std::to_string(kMaxPatternLength) + " bytes");
    }
    if (pattern.find('\0') != std::string_view::npos) {
      throw UserError("pattern contains a NUL byte");
    }
    // Rules travel as JSON (to the fs process, in audit lines, over the API), which holds
    // only UTF-8: such a pattern failed later with a raw JSON error. A name that is not
    // UTF-8 is still matched by wildcards.
    if (!is_valid_utf8(pattern)) {
      throw UserError("pattern is not valid UTF-8 (match such names with wildcards: ? * [...])");
    }
    if (rule.type == PatternType::kFile) return compile_file_rule(pattern, spent);
    return compile_glob_rule(pattern, rule.type, spent);
  } catch (const UserError& error) {
    throw RuleError(rule_error_prefix(rule, number) + error.what(), error.what());
  }
}

std::string shown_pattern(const std::string& pattern) {
  constexpr std::size_t kShownBytes = 100;
  if (pattern.size() <= kShownBytes) return pattern;
  return pattern.substr(0, kShownBytes) + "... (" + std::to_string(pattern.size()) + " bytes)";
}

std::string rule_error_prefix(const Rule& rule, int number) {
  std::string shown = shown_pattern(rule.pattern);
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20) c = '?';  // keep the message one printable line
  }
  return "rule " + std::to_string(number) + " (\"" + shown + "\"): ";
}

}  // namespace agentfense::policy
