// A policy's rules come from API callers and are compiled by the server and by each
// sandbox's fs process: what they may cost is bounded (compile_budget.h), and refused
// before it is spent. One 4 KB rule used to build 512,000 segment regexes (505 MB).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/errors.h"
#include "policy/brace_expansion.h"
#include "policy_test_util.h"

namespace agentfense::policy {
namespace {

using testing::glob;
using ::testing::HasSubstr;

std::string repeated(const std::string& text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += text;
  return out;
}

// 256 alternatives, each as long as the rest of the pattern.
const std::string kEightPairs = "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}{o,p}/";

std::string refusal(const std::vector<Rule>& rules) {
  try {
    (void)Policy::compile(rules);
  } catch (const UserError& error) {
    return error.what();
  }
  return "(compiled)";
}

TEST(CompileBudget, BraceAlternativesAreBoundedByTheirTextBeforeBeingBuilt) {
  EXPECT_THAT(refusal({glob(kEightPairs + repeated("x/", 2000) + "**", Level::kRead)}),
              HasSubstr("alternatives longer than 65536 bytes in all"));
  EXPECT_THROW(expand_braces(kEightPairs + repeated("y", 300)), UserError);
  EXPECT_EQ(expand_braces(kEightPairs + repeated("y", 200)).size(), 256u);  // 55 KB
}

TEST(CompileBudget, RuleCountIsBounded) {
  std::vector<Rule> rules;
  for (std::size_t i = 0; i < kMaxPolicyRules; ++i) {
    rules.push_back(glob("d" + std::to_string(i) + "/**", Level::kRead));
  }
  const Policy policy = Policy::compile(rules);
  EXPECT_EQ(policy.decide("/d9999/f", false).rule, 9999);
  rules.push_back(glob("one-more", Level::kRead));
  EXPECT_THAT(refusal(rules), HasSubstr("10001 rules: a policy holds at most 10000"));
}

TEST(CompileBudget, SegmentsWithWildcardsAreBoundedAcrossRules) {
  // 1,000 wildcard segments per rule: 20 rules fit, the 21st is refused by number.
  std::vector<Rule> rules;
  for (int i = 0; i < 21; ++i) {
    rules.push_back(
        glob("r" + std::to_string(i) + "/" + repeated("x*/", 1000) + "**", Level::kRead));
  }
  EXPECT_THAT(refusal(rules), HasSubstr("rule 21 (\"r20/x*/"));
  EXPECT_THAT(refusal(rules), HasSubstr("more than 20000 path segments with wildcards in all"));
  rules.pop_back();
  EXPECT_NO_THROW(Policy::compile(rules));
}

TEST(CompileBudget, LiteralSegmentsNeedNoRegexAndStillMatch) {
  // 4,000 literal segments would pass the wildcard bound many times over as regexes.
  std::vector<Rule> rules;
  for (int i = 0; i < 10; ++i) {
    rules.push_back(
        glob("lit" + std::to_string(i) + "/" + repeated("seg/", 400) + "*.txt", Level::kRead));
  }
  const Policy policy = Policy::compile(rules);
  const std::string deep = "/lit3/" + repeated("seg/", 400);
  EXPECT_EQ(policy.decide(deep + "a.txt", false).rule, 3);
  // Literal segments decide which directories may hold visible paths, as regexes did.
  EXPECT_TRUE(policy.decide("/lit3/seg/seg", true).descendants_may_be_visible);
  EXPECT_FALSE(policy.decide("/lit3/seg/other", true).descendants_may_be_visible);
  EXPECT_FALSE(policy.decide("/lit3/Seg", true).descendants_may_be_visible);
}

TEST(CompileBudget, PatternTextIsBoundedAcrossRules) {
  std::vector<Rule> rules;
  for (int i = 0; i < 700; ++i) {  // 700 x 3 KB of literal text: past 2 MiB of patterns
    rules.push_back(glob("p" + std::to_string(i) + "/" + std::string(3000, 'a'), Level::kRead));
  }
  EXPECT_THAT(refusal(rules), HasSubstr("more than 2097152 bytes of patterns in all"));
}

TEST(CompileBudget, RuleCheckerSharesOneBudget) {
  // Each rule alone is fine; together they are not, and the checker says which one.
  RuleChecker checker;
  const std::string heavy = repeated("x*/", 1000) + "**";
  for (int i = 0; i < 20; ++i) checker.check(glob(heavy, Level::kRead));
  try {
    checker.check(glob(heavy, Level::kRead));
    FAIL() << "the 21st heavy rule was accepted";
  } catch (const UserError& error) {
    EXPECT_THAT(error.what(), HasSubstr("rule 21 ("));
    EXPECT_THAT(error.what(), HasSubstr("path segments with wildcards"));
  }
  // Bad rules are reported as compile() reports them.
  EXPECT_THROW(RuleChecker().check(glob("src/[a-", Level::kRead)), UserError);
}

}  // namespace
}  // namespace agentfense::policy
