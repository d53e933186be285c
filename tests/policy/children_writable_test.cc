// Decision::children_may_be_writable: whether a name directly in a directory may have
// level write, so that the filesystem presents the directory writable (the kernel checks
// the parent before a create, unlink or rename reaches the daemon, which then decides by
// the name's own level).
#include <gtest/gtest.h>

#include <array>

#include "policy/presets.h"
#include "policy_test_util.h"

namespace agentfense::policy {
namespace {

using testing::glob;
using testing::typed;

struct ChildrenCase {
  std::string name;
  std::vector<Rule> rules;
  std::string dir;
  bool writable;
};

class ChildrenWritable : public ::testing::TestWithParam<ChildrenCase> {};

TEST_P(ChildrenWritable, ReportsWhetherANameInTheDirectoryMayBeWritten) {
  const ChildrenCase& c = GetParam();
  EXPECT_EQ(testing::decide(c.rules, c.dir, true).children_may_be_writable, c.writable);
}

const std::vector<Rule> kOutputStar = {glob("**/*", Level::kRead),
                                       glob("/output/*", Level::kWrite)};
const std::vector<Rule> kFullAccess = preset_rules("full-access");
const std::vector<Rule> kAgentSafe = preset_rules("agent-safe");

INSTANTIATE_TEST_SUITE_P(
    Cases, ChildrenWritable,
    ::testing::Values(
        // Issue 11: "output/*" lets the agent create output/report.txt although output/
        // itself is read; the root is not writable (output itself is read).
        ChildrenCase{"OutputStarOutput", kOutputStar, "/output", true},
        ChildrenCase{"OutputStarRoot", kOutputStar, "/", false},
        ChildrenCase{"OutputStarGrandchild", kOutputStar, "/output/sub", false},
        ChildrenCase{"OutputStarElsewhere", kOutputStar, "/src", false},
        // full-access: the root matches no rule, its children all do.
        ChildrenCase{"FullAccessRoot", kFullAccess, "/", true},
        ChildrenCase{"FullAccessDeep", kFullAccess, "/a/b/c", true},
        ChildrenCase{"AgentSafeRoot", kAgentSafe, "/", true},  // /output and /tmp
        ChildrenCase{"AgentSafeOutput", kAgentSafe, "/output", true},
        ChildrenCase{"AgentSafeSrc", kAgentSafe, "/src", false},
        ChildrenCase{"ReadOnly", preset_rules("read-only"), "/", false},
        ChildrenCase{"ViewOnly", preset_rules("view-only"), "/a", false},
        ChildrenCase{"NoRules", {}, "/", false},
        ChildrenCase{"DirSelfGlobstar", {glob("/out/**", Level::kWrite)}, "/", true},
        ChildrenCase{"DirSelfGlobstarInside", {glob("/out/**", Level::kWrite)}, "/out/x", true},
        ChildrenCase{"ExtensionAnywhere", {glob("**/*.log", Level::kWrite)}, "/a/b", true},
        ChildrenCase{"TwoLevelsDown", {glob("/a/*/*", Level::kWrite)}, "/a", false},
        ChildrenCase{"TwoLevelsDownParent", {glob("/a/*/*", Level::kWrite)}, "/a/b", true},
        ChildrenCase{"LiteralMiss", {glob("/a/b/c", Level::kWrite)}, "/a/x", false},
        ChildrenCase{"FileRuleChild",
                     {typed("/a/b/c.txt", Level::kWrite, PatternType::kFile)},
                     "/a/b",
                     true},
        ChildrenCase{"FileRuleGrandchild",
                     {typed("/a/b/c.txt", Level::kWrite, PatternType::kFile)},
                     "/a",
                     false},
        ChildrenCase{
            "FileRuleAtRoot", {typed("/c.txt", Level::kWrite, PatternType::kFile)}, "/", true},
        ChildrenCase{"DirRuleSelf", {glob("/a/b/", Level::kWrite)}, "/a/b", true},
        ChildrenCase{"DirRuleParent", {glob("/a/b/", Level::kWrite)}, "/a", true},
        ChildrenCase{"DirRuleGrandparent", {glob("/a/b/", Level::kWrite)}, "/", false},
        ChildrenCase{"BraceAlternative", {glob("{src,lib}/*", Level::kWrite)}, "/lib", true},
        // A rule at another level that outranks every write rule over the whole subtree.
        // J4: "**/*/" reaches only directories among the root's children, so the file
        // /ab is decided by "?b" (write).
        ChildrenCase{"DirRuleStarDoesNotCoverFiles",
                     {glob("?b", Level::kWrite), glob("**/*/", Level::kRead)},
                     "/",
                     true},
        ChildrenCase{"CoveredByRead",
                     {glob("**/*", Level::kWrite), glob("/docs/**", Level::kRead)},
                     "/docs",
                     false},
        ChildrenCase{"CoveredByNone",
                     {glob("**/*", Level::kWrite), glob("**/secrets/**", Level::kNone, 100)},
                     "/a/secrets",
                     false},
        ChildrenCase{"PartialCoverDoesNotCount",
                     {glob("**/*", Level::kWrite), glob("/docs/*.md", Level::kRead, 5)},
                     "/docs",
                     true},
        ChildrenCase{"LowerRankedCoverDoesNotCount",
                     {glob("/docs/**", Level::kRead), glob("/docs/*", Level::kWrite, 1)},
                     "/docs",
                     true}),
    [](const ::testing::TestParamInfo<ChildrenCase>& info) { return info.param.name; });

TEST(ChildrenWritable, OnlyComputedForDirectories) {
  EXPECT_FALSE(testing::decide(kFullAccess, "/a", false).children_may_be_writable);
}

// Every parent/child level combination: the directory's own level never matters, only
// whether a child name may be write.
TEST(ChildrenWritable, EveryParentAndChildLevel) {
  constexpr std::array kLevels = {Level::kNone, Level::kView, Level::kRead, Level::kWrite};
  for (const Level parent : kLevels) {
    for (const Level child : kLevels) {
      std::vector<Rule> rules = {glob("/p/*", child)};
      if (parent != Level::kNone) rules.push_back(glob("/p", parent));
      const Policy policy = Policy::compile(rules);
      const Decision dir = policy.decide("/p", true);
      const Decision name = policy.decide("/p/x", false);
      SCOPED_TRACE(std::string(to_string(parent)) + "/" + std::string(to_string(child)));
      EXPECT_EQ(dir.level, parent);
      EXPECT_EQ(name.level, child);
      EXPECT_EQ(dir.children_may_be_writable, child == Level::kWrite);
    }
  }
}

}  // namespace
}  // namespace agentfense::policy
