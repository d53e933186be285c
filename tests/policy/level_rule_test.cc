// Level and pattern-type names, the --rule flag syntax, and describe().
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/errors.h"
#include "policy/level.h"
#include "policy/rule.h"

namespace agentfense::policy {
namespace {

TEST(Level, NamesRoundTrip) {
  for (Level level : {Level::kNone, Level::kView, Level::kRead, Level::kWrite}) {
    EXPECT_EQ(parse_level(to_string(level)), level);
  }
  EXPECT_EQ(to_string(Level::kWrite), "write");
}

TEST(Level, AcceptsAnyCaseAndWireNames) {
  EXPECT_EQ(parse_level("READ"), Level::kRead);
  EXPECT_EQ(parse_level("View"), Level::kView);
  EXPECT_EQ(parse_level("PERMISSION_READ"), Level::kRead);
  EXPECT_EQ(parse_level("PERMISSION_NONE"), Level::kNone);
  EXPECT_EQ(parse_level("permission_write"), Level::kWrite);
}

TEST(Level, RejectsEverythingElse) {
  for (const char* text : {"", "reed", "PERMISSION_", "PERMISSION_X", " read", "readwrite"}) {
    EXPECT_EQ(parse_level(text), std::nullopt) << text;
  }
}

TEST(Level, OrderedFromLeastToMostAccess) {
  EXPECT_LT(Level::kNone, Level::kView);
  EXPECT_LT(Level::kView, Level::kRead);
  EXPECT_LT(Level::kRead, Level::kWrite);
}

TEST(PatternTypeNames, ShortAndWireNames) {
  EXPECT_EQ(parse_pattern_type("glob"), PatternType::kGlob);
  EXPECT_EQ(parse_pattern_type("Directory"), PatternType::kDirectory);
  EXPECT_EQ(parse_pattern_type("PATTERN_TYPE_FILE"), PatternType::kFile);
  EXPECT_EQ(parse_pattern_type("PATTERN_TYPE_DIRECTORY"), PatternType::kDirectory);
  EXPECT_EQ(parse_pattern_type("PATTERN_TYPE_GLOB"), PatternType::kGlob);
  EXPECT_EQ(parse_pattern_type("dir"), std::nullopt);
  EXPECT_EQ(to_string(PatternType::kDirectory), "directory");
}

TEST(RuleFlag, ParsesPatternLevelAndPriority) {
  EXPECT_EQ(parse_rule_flag("src/**=write:5"),
            (Rule{.pattern = "src/**", .level = Level::kWrite, .priority = 5}));
  EXPECT_EQ(parse_rule_flag("**/*.pem=none"), (Rule{.pattern = "**/*.pem", .level = Level::kNone}));
  EXPECT_EQ(parse_rule_flag("a=b=read:-3"),
            (Rule{.pattern = "a=b", .level = Level::kRead, .priority = -3}));
  EXPECT_EQ(parse_rule_flag("x=READ:+7").priority, 7);
  EXPECT_EQ(parse_rule_flag("x=read:2147483647").priority, 2147483647);
}

TEST(RuleFlag, RejectsMalformedTextNamingIt) {
  for (const char* text : {"src/**", "=read", "src=", "src=reed", "src=read:", "src=read:x",
                           "src=read:1.5", "src=read:2147483648", "src=read:5:6"}) {
    try {
      parse_rule_flag(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const UserError& error) {
      EXPECT_THAT(error.what(), ::testing::HasSubstr(std::string("'") + text + "'"));
    }
  }
}

TEST(RuleDescribe, OneLineWithLevelPriorityAndType) {
  EXPECT_EQ(describe(Rule{.pattern = "/secrets/**", .level = Level::kNone, .priority = 100}),
            "/secrets/** -> none (priority 100, glob)");
  EXPECT_EQ(describe(Rule{.pattern = "/a", .level = Level::kRead, .type = PatternType::kFile}),
            "/a -> read (priority 0, file)");
}

}  // namespace
}  // namespace agentfense::policy
