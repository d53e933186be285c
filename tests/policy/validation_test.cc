// compile() rejects bad rules with a UserError naming the rule (1-based) and its pattern.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <climits>

#include "common/errors.h"
#include "policy_test_util.h"

namespace agentfense::policy {
namespace {

using testing::glob;
using testing::typed;

struct InvalidCase {
  std::string pattern;
  std::string reason;  // expected substring of the message
  PatternType type = PatternType::kGlob;
};

void PrintTo(const InvalidCase& c, std::ostream* out) {
  *out << "'" << c.pattern << "'";
}

class InvalidRule : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidRule, RejectedNamingRuleNumberAndPattern) {
  const InvalidCase& c = GetParam();
  // Two good rules first, so the message must name rule 3.
  const std::vector<Rule> rules = {glob("**/*", Level::kRead), glob("/out/**", Level::kWrite),
                                   typed(c.pattern, Level::kNone, c.type)};
  try {
    Policy::compile(rules);
    FAIL() << "compiled";
  } catch (const UserError& error) {
    // Long patterns are shown by their first 100 bytes and their length, so that the
    // reason survives wherever the message is cut.
    std::string shown = c.pattern.substr(0, 100);
    for (char& ch : shown) {
      if (static_cast<unsigned char>(ch) < 0x20) ch = '?';
    }
    if (c.pattern.size() > 100) shown += "... (" + std::to_string(c.pattern.size()) + " bytes)";
    EXPECT_THAT(error.what(), ::testing::StartsWith("rule 3 (\"" + shown + "\"): "));
    EXPECT_THAT(error.what(), ::testing::HasSubstr(c.reason));
  }
}

std::string many_alternatives() {
  std::string pattern;
  for (int i = 0; i < 9; ++i) pattern += "{a,b}";
  return pattern;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, InvalidRule,
    ::testing::Values(InvalidCase{"", "empty pattern"}, InvalidCase{"src/[a-", "unterminated '['"},
                      InvalidCase{"[", "unterminated '['"}, InvalidCase{"[]", "unterminated '['"},
                      InvalidCase{"{a,b", "unterminated '{'"},
                      InvalidCase{"src/{a,{b}/x", "unterminated '{'"},
                      InvalidCase{"a}", "unmatched '}'"}, InvalidCase{"a/../b", "'..'"},
                      InvalidCase{"..", "'..'"}, InvalidCase{"{..,x}/y", "'..'"},
                      InvalidCase{"a/..", "'..'", PatternType::kFile},
                      InvalidCase{"***", "'**' must be a whole path segment"},
                      InvalidCase{"**x", "'**' must be a whole path segment"},
                      InvalidCase{"x**", "'**' must be a whole path segment"},
                      InvalidCase{"a/**b/c", "'**' must be a whole path segment"},
                      InvalidCase{"a\\", "lone '\\'"}, InvalidCase{"a\\/b", "'/' always separates"},
                      InvalidCase{"[[:alpha:]]", "POSIX"}, InvalidCase{"[z-a]", "invalid range"},
                      InvalidCase{"[\xc3\xa9]", "non-ASCII"}, InvalidCase{"[/]", "matches nothing"},
                      InvalidCase{std::string("a\0b", 3), "NUL"},
                      InvalidCase{std::string("a\0b", 3), "NUL", PatternType::kFile},
                      InvalidCase{"/s\xffx", "not valid UTF-8"},
                      InvalidCase{"/s\xc3", "not valid UTF-8", PatternType::kFile},
                      InvalidCase{std::string(5000, 'a'), "longer than 4096"},
                      InvalidCase{many_alternatives(), "alternatives"},
                      InvalidCase{"dir/", "cannot end with '/'", PatternType::kFile}));

TEST(Validation, FilePatternsMayContainGlobCharacters) {
  EXPECT_NO_THROW(Policy::compile({typed("a[*{?", Level::kRead, PatternType::kFile)}));
}

TEST(Validation, AnyInt32PriorityIsAccepted) {
  EXPECT_NO_THROW(
      Policy::compile({glob("a", Level::kRead, INT_MIN), glob("b", Level::kRead, INT_MAX)}));
}

TEST(Validation, ManyRulesCompileIntoOnePolicy) {
  std::vector<Rule> rules;
  for (int i = 0; i < 500; ++i) {
    rules.push_back(glob("**/dir" + std::to_string(i) + "/**/*.{c,h}", Level::kRead, i % 7));
  }
  const Policy policy = Policy::compile(rules);
  const Decision decision = policy.decide("/x/dir499/y/z.h", false);
  EXPECT_EQ(decision.rule, 499);
  EXPECT_EQ(decision.level, Level::kRead);
  EXPECT_EQ(policy.decide("/x/dir500/y/z.h", false).rule, -1);
}

}  // namespace
}  // namespace agentfense::policy
