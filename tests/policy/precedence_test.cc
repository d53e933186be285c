// Which rule wins when several match: priority, then file > directory > glob, then longer
// literal prefix, then the later rule. Nothing matching means none.
#include <gtest/gtest.h>

#include "policy_test_util.h"

namespace agentfense::policy {
namespace {

using testing::decide;
using testing::glob;
using testing::typed;

TEST(Precedence, NothingMatchingFailsClosed) {
  const Decision decision = decide({glob("/src/**", Level::kRead)}, "/docs/a", false);
  EXPECT_EQ(decision.level, Level::kNone);
  EXPECT_EQ(decision.rule, -1);
}

TEST(Precedence, EmptyPolicyDecidesNone) {
  const Decision decision = decide({}, "/", true);
  EXPECT_EQ(decision.level, Level::kNone);
  EXPECT_EQ(decision.rule, -1);
  EXPECT_FALSE(decision.descendants_may_be_visible);
}

// What a commit or an upload holds under a temporary name is on its way to another path
// with other rules: no rule reaches it, at any priority (reserved_names.h).
TEST(Precedence, ReservedNamesAreNoneWhateverTheRules) {
  const std::vector<Rule> rules = {
      glob("**", Level::kWrite, 100),
      typed("/.af-staging-x/", Level::kWrite, PatternType::kDirectory)};
  for (const char* path : {"/.af-staging-stage_1", "/.af-staging-stage_1/secrets/key",
                           "/src/.agentfense-commit-0123abcd", "/a/.agentfense-commit-x/b"}) {
    for (const bool is_dir : {false, true}) {
      const Decision decision = decide(rules, path, is_dir);
      EXPECT_EQ(decision.level, Level::kNone) << path;
      EXPECT_EQ(decision.rule, -1) << path;
      EXPECT_FALSE(decision.descendants_may_be_visible || decision.children_may_be_writable);
    }
  }
  for (const char* path : {"/.af-stagingx", "/src/agentfense-commit-1", "/a.af-staging-1"})
    EXPECT_EQ(decide(rules, path, false).level, Level::kWrite) << path;
}

TEST(Precedence, HigherPriorityBeatsTypeAndSpecificityAndOrder) {
  const std::vector<Rule> rules = {glob("**", Level::kWrite, 1),
                                   typed("/a/b.txt", Level::kRead, PatternType::kFile, 0)};
  const Decision decision = decide(rules, "/a/b.txt", false);
  EXPECT_EQ(decision.level, Level::kWrite);
  EXPECT_EQ(decision.rule, 0);
}

TEST(Precedence, NegativePrioritiesOrderToo) {
  const std::vector<Rule> rules = {glob("**", Level::kWrite, -5), glob("**", Level::kRead, -6)};
  EXPECT_EQ(decide(rules, "/x", false).level, Level::kWrite);
}

struct TypeCase {
  std::vector<Rule> rules;
  std::string path;
  Level expected;
};

class TypeOrder : public ::testing::TestWithParam<TypeCase> {};

TEST_P(TypeOrder, FileBeatsDirectoryBeatsGlobInAnyListOrder) {
  EXPECT_EQ(decide(GetParam().rules, GetParam().path, false).level, GetParam().expected);
}

const Rule kGlobNone = glob("/a/**", Level::kNone);
const Rule kDirRead = typed("/a", Level::kRead, PatternType::kDirectory);
const Rule kFileWrite = typed("/a/b", Level::kWrite, PatternType::kFile);

INSTANTIATE_TEST_SUITE_P(
    AllOrders, TypeOrder,
    ::testing::Values(TypeCase{{kGlobNone, kDirRead, kFileWrite}, "/a/b", Level::kWrite},
                      TypeCase{{kFileWrite, kDirRead, kGlobNone}, "/a/b", Level::kWrite},
                      TypeCase{{kDirRead, kGlobNone, kFileWrite}, "/a/b", Level::kWrite},
                      TypeCase{{kGlobNone, kDirRead, kFileWrite}, "/a/c", Level::kRead},
                      TypeCase{{kDirRead, kGlobNone}, "/a/c", Level::kRead},
                      TypeCase{{kGlobNone, kFileWrite}, "/a/c", Level::kNone}));

TEST(Precedence, LongerLiteralPrefixWinsRegardlessOfOrder) {
  const Rule src_read = glob("/src/**", Level::kRead);   // literal prefix "src/" (4)
  const Rule py_write = glob("**/*.py", Level::kWrite);  // literal prefix "" (0)
  EXPECT_EQ(decide({src_read, py_write}, "/src/a.py", false).level, Level::kRead);
  EXPECT_EQ(decide({py_write, src_read}, "/src/a.py", false).level, Level::kRead);
  EXPECT_EQ(decide({src_read, py_write}, "/lib/a.py", false).level, Level::kWrite);

  const Rule longer = glob("/src/ma*", Level::kNone);
  const Rule shorter = glob("/src/*", Level::kWrite);
  EXPECT_EQ(decide({longer, shorter}, "/src/main.c", false).level, Level::kNone);
  EXPECT_EQ(decide({shorter, longer}, "/src/main.c", false).level, Level::kNone);
}

TEST(Precedence, LeadingSlashDoesNotCountAsSpecificity) {
  // "/src/*" and "src/*" are the same pattern: the tie goes to the later rule.
  EXPECT_EQ(
      decide({glob("/src/*", Level::kRead), glob("src/*", Level::kWrite)}, "/src/a", false).level,
      Level::kWrite);
  EXPECT_EQ(
      decide({glob("src/*", Level::kWrite), glob("/src/*", Level::kRead)}, "/src/a", false).level,
      Level::kRead);
}

TEST(Precedence, EscapedCharacterCountsOnceInLiteralPrefix) {
  // "a\*x*" has literal prefix "a*x" (3); "abcd*" has 4 and wins.
  const Rule escaped = glob("a\\*x*", Level::kRead);
  const Rule plain = glob("a*", Level::kWrite);
  EXPECT_EQ(decide({escaped, plain}, "/a*xy", false).level, Level::kRead);
  EXPECT_EQ(decide({plain, escaped}, "/a*xy", false).level, Level::kRead);
}

TEST(Precedence, EqualRulesTieToTheLaterOne) {
  const Rule read = glob("**/*", Level::kRead);
  const Rule write = glob("**/*", Level::kWrite);
  Decision decision = decide({read, write}, "/x", false);
  EXPECT_EQ(decision.level, Level::kWrite);
  EXPECT_EQ(decision.rule, 1);
  decision = decide({write, read}, "/x", false);
  EXPECT_EQ(decision.level, Level::kRead);
  EXPECT_EQ(decision.rule, 1);
}

TEST(Precedence, ReportsTheWinningRuleIndex) {
  const std::vector<Rule> rules = {glob("**/*", Level::kRead), glob("**/*.pem", Level::kNone, 100),
                                   glob("/out/**", Level::kWrite, 10)};
  EXPECT_EQ(decide(rules, "/a.txt", false).rule, 0);
  EXPECT_EQ(decide(rules, "/out/k.pem", false).rule, 1);
  EXPECT_EQ(decide(rules, "/out/k.txt", false).rule, 2);
}

TEST(Precedence, TrailingSlashIsRecordedAsDirectoryType) {
  const Policy policy = Policy::compile({glob("build/", Level::kRead)});
  EXPECT_EQ(policy.rules().at(0).type, PatternType::kDirectory);
  EXPECT_EQ(policy.rules().at(0).pattern, "build/");
}

TEST(Precedence, CompiledPolicyIsMovable) {
  Policy policy = Policy::compile({glob("**", Level::kRead)});
  Policy moved = std::move(policy);
  EXPECT_EQ(moved.decide("/x", false).level, Level::kRead);
}

}  // namespace
}  // namespace agentfense::policy
