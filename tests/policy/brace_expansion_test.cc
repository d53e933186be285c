#include "policy/brace_expansion.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/errors.h"

namespace agentfense::policy {
namespace {

using ::testing::ElementsAre;

TEST(BraceExpansion, ExpandsInOrder) {
  EXPECT_THAT(expand_braces("{a,b}/x"), ElementsAre("a/x", "b/x"));
  EXPECT_THAT(expand_braces("{a,b}{1,2}"), ElementsAre("a1", "a2", "b1", "b2"));
  EXPECT_THAT(expand_braces("x{a,b{c,d}}y"), ElementsAre("xay", "xbcy", "xbdy"));
  EXPECT_THAT(expand_braces("{a}"), ElementsAre("a"));
  EXPECT_THAT(expand_braces("a{}b"), ElementsAre("ab"));
  EXPECT_THAT(expand_braces("{,x}"), ElementsAre("", "x"));
}

TEST(BraceExpansion, LeavesEscapesClassesAndBareCommasAlone) {
  EXPECT_THAT(expand_braces("a,b"), ElementsAre("a,b"));
  EXPECT_THAT(expand_braces("\\{a,b\\}"), ElementsAre("\\{a,b\\}"));
  EXPECT_THAT(expand_braces("[{,}]"), ElementsAre("[{,}]"));
  EXPECT_THAT(expand_braces("{[,],x}"), ElementsAre("[,]", "x"));
}

TEST(BraceExpansion, RejectsUnbalancedAndExplosiveGroups) {
  EXPECT_THROW(expand_braces("{a,b"), UserError);
  EXPECT_THROW(expand_braces("a}"), UserError);
  EXPECT_THROW(expand_braces("{a,{b}"), UserError);
  EXPECT_THROW(expand_braces(std::string(40, '{') + std::string(40, '}')), UserError);
  std::string nine_pairs;
  for (int i = 0; i < 9; ++i) nine_pairs += "{a,b}";  // 512 alternatives
  EXPECT_THROW(expand_braces(nine_pairs), UserError);
  EXPECT_EQ(expand_braces(nine_pairs.substr(5 * 1)).size(), 256u);
}

}  // namespace
}  // namespace agentfense::policy
