// Decision::descendants_may_be_visible: a directory with level none stays traversable
// when a rule could grant access beneath it, unless a none rule that outranks it hides
// the whole subtree.
#include <gtest/gtest.h>

#include "policy/presets.h"
#include "policy_test_util.h"

namespace agentfense::policy {
namespace {

using testing::glob;
using testing::typed;

struct DescendantsCase {
  std::string name;
  std::vector<Rule> rules;
  std::string dir;
  bool visible;
};

class Descendants : public ::testing::TestWithParam<DescendantsCase> {};

TEST_P(Descendants, ReportsWhetherAnythingBelowMayBeVisible) {
  const DescendantsCase& c = GetParam();
  EXPECT_EQ(testing::decide(c.rules, c.dir, true).descendants_may_be_visible, c.visible);
}

std::vector<Rule> with(std::vector<Rule> rules, const std::vector<Rule>& more) {
  rules.insert(rules.end(), more.begin(), more.end());
  return rules;
}

const std::vector<Rule> kPythonOnly = {glob("/src/**/*.py", Level::kRead)};
const std::vector<Rule> kAgentSafe = preset_rules("agent-safe");

INSTANTIATE_TEST_SUITE_P(
    Cases, Descendants,
    ::testing::Values(
        DescendantsCase{"PyRoot", kPythonOnly, "/", true},
        DescendantsCase{"PySrc", kPythonOnly, "/src", true},
        DescendantsCase{"PySrcPkg", kPythonOnly, "/src/pkg", true},
        DescendantsCase{"PyDocs", kPythonOnly, "/docs", false},
        DescendantsCase{"SafeRoot", kAgentSafe, "/", true},
        DescendantsCase{"SafeSrc", kAgentSafe, "/src", true},
        DescendantsCase{"SafeSecrets", kAgentSafe, "/secrets", false},
        DescendantsCase{"SafeNestedSecrets", kAgentSafe, "/a/secrets", false},
        DescendantsCase{"SafeInsideSecrets", kAgentSafe, "/a/secrets/b", false},
        DescendantsCase{"SafeGit", kAgentSafe, "/.git", false},
        DescendantsCase{"SafeNestedGit", kAgentSafe, "/a/.git", false},
        // A later rule at the same priority outranks the preset's hiding rule.
        DescendantsCase{"LaterRuleUnhides",
                        with(kAgentSafe, {glob("/a/secrets/pub/**", Level::kRead, 100)}),
                        "/a/secrets", true},
        DescendantsCase{"LowerPriorityStaysHidden",
                        with(kAgentSafe, {glob("/a/secrets/pub/**", Level::kRead, 50)}),
                        "/a/secrets", false},
        // A none rule that only hides part of the subtree hides nothing for certain.
        DescendantsCase{"PartialNoneDoesNotShadow",
                        {glob("**/*", Level::kRead), glob("**/x/*", Level::kNone, 100)},
                        "/x",
                        true},
        DescendantsCase{"ViewCountsAsVisible", {glob("**/*", Level::kView)}, "/a", true},
        DescendantsCase{"OnlyNoneRules", {glob("**", Level::kNone)}, "/", false},
        DescendantsCase{"FileRuleAncestor",
                        {typed("/a/b/c.txt", Level::kRead, PatternType::kFile)},
                        "/a/b",
                        true},
        DescendantsCase{
            "FileRuleRoot", {typed("/a/b/c.txt", Level::kRead, PatternType::kFile)}, "/", true},
        DescendantsCase{"FileRuleItself",
                        {typed("/a/b/c.txt", Level::kRead, PatternType::kFile)},
                        "/a/b/c.txt",
                        false},
        DescendantsCase{
            "FileRuleSibling", {typed("/a/b", Level::kRead, PatternType::kFile)}, "/a/bc", false},
        DescendantsCase{"DirRuleAncestor", {glob("/a/b/", Level::kRead)}, "/a", true},
        DescendantsCase{"DirRuleSelf", {glob("/a/b/", Level::kRead)}, "/a/b", true},
        DescendantsCase{"DirRuleInside", {glob("/a/b/", Level::kRead)}, "/a/b/c/d", true},
        DescendantsCase{"DirRuleElsewhere", {glob("/a/b/", Level::kRead)}, "/x", false},
        DescendantsCase{"DirNoneHidesGlobBelow",
                        {glob("**/*.py", Level::kRead), glob("/vendor/", Level::kNone, 5)},
                        "/vendor/lib",
                        false},
        DescendantsCase{"ExactMatchIsNotBelow", {glob("/a/b", Level::kRead)}, "/a/b", false},
        DescendantsCase{"TwoGlobstars", {glob("**/a/**/b", Level::kRead)}, "/x/a/y", true},
        DescendantsCase{"BraceAlternative", {glob("{src,lib}/*.py", Level::kRead)}, "/lib", true},
        DescendantsCase{
            "BraceAlternativeMiss", {glob("{src,lib}/*.py", Level::kRead)}, "/doc", false},
        // J4: a directory rule ending in "*" hides directories below /a, not the files
        // directly in it, so /a/f.txt stays visible.
        DescendantsCase{"DirRuleStarDoesNotHideFiles",
                        {glob("**/*.txt", Level::kRead), glob("a/**/*/", Level::kNone, 5)},
                        "/a",
                        true},
        DescendantsCase{"DirRuleStarHidesInsideMatchedDir",
                        {glob("**/*.txt", Level::kRead), glob("a/**/*/", Level::kNone, 5)},
                        "/a/b",
                        false}),
    [](const ::testing::TestParamInfo<DescendantsCase>& info) { return info.param.name; });

TEST(Descendants, OnlyComputedForDirectories) {
  EXPECT_FALSE(testing::decide(kPythonOnly, "/src", false).descendants_may_be_visible);
}

TEST(Descendants, NoneDirectoryWithVisibleChildStaysNone) {
  // The directory's own level is unaffected: the fs shows it as a traversable listing.
  const Decision decision = testing::decide(kPythonOnly, "/src", true);
  EXPECT_EQ(decision.level, Level::kNone);
  EXPECT_TRUE(decision.descendants_may_be_visible);
}

// Policy::below_may_be_unreadable: what a committed symlink to a directory may lead to.
struct UnreadableCase {
  std::string name;
  std::vector<Rule> rules;
  std::string dir;
  bool unreadable;
};

class BelowUnreadable : public ::testing::TestWithParam<UnreadableCase> {};

TEST_P(BelowUnreadable, SaysWhetherSomethingBelowMayBeHiddenOrViewOnly) {
  const UnreadableCase& c = GetParam();
  EXPECT_EQ(Policy::compile(c.rules).below_may_be_unreadable(c.dir), c.unreadable);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BelowUnreadable,
    ::testing::Values(
        UnreadableCase{"AllRead", {glob("**/*", Level::kRead)}, "/src", false},
        UnreadableCase{"AllWrite", preset_rules("full-access"), "/", false},
        // "*" alone takes only direct children: a grandchild matches no rule.
        UnreadableCase{"ChildrenOnly", {glob("/src/*", Level::kRead)}, "/src", true},
        UnreadableCase{"StarThenGlobstar", {glob("/src/*/**", Level::kRead)}, "/src", false},
        // Secrets may sit in any directory.
        UnreadableCase{"AgentSafe", kAgentSafe, "/src", true},
        // Paths matching no rule are none.
        UnreadableCase{"PartialCover", kPythonOnly, "/src", true},
        UnreadableCase{"ViewBelow",
                       {glob("**/*", Level::kRead), glob("/docs/**", Level::kView, 5)},
                       "/docs",
                       true},
        // A view rule the covering rule outranks cannot win below.
        UnreadableCase{"Outranked",
                       {glob("/docs/*.md", Level::kView), glob("/docs/**", Level::kWrite, 5)},
                       "/docs",
                       false},
        // J4: a directory rule's "*" names a directory: files directly in /a match
        // neither rule, so they are none and a link to /a must be refused.
        UnreadableCase{
            "DirRuleStarMissesFiles",
            {glob("out/**", Level::kWrite), glob("a/**/*/", Level::kRead), glob("a", Level::kRead)},
            "/a",
            true},
        UnreadableCase{"DirRuleStarAtRoot",
                       {glob("**/*/", Level::kRead), glob("{a,}", Level::kRead)},
                       "/",
                       true},
        // Inside a directory the rule matches, it covers everything.
        UnreadableCase{
            "DirRuleStarInsideMatchedDir", {glob("a/**/*/", Level::kRead)}, "/a/sub", false},
        UnreadableCase{"DirRuleGlobstarCovers", {glob("a/**/", Level::kRead)}, "/a", false},
        UnreadableCase{"ElsewhereOnly",
                       {glob("**/*", Level::kRead), glob("/keys/**", Level::kNone, 100)},
                       "/src",
                       false}),
    [](const auto& info) { return info.param.name; });

// A pattern's brace groups multiply its alternatives, whose wildcard segments are
// compiled once and shared (subtree_reach.h): every alternative still decides as it
// would written alone.
TEST(Descendants, BraceAlternativesSharingSegmentsDecideAsWrittenOneByOne) {
  const std::vector<Rule> braced = {glob("/{*a,b?}/{*a,b?}/x*", Level::kRead)};
  std::vector<Rule> one_by_one;
  for (const char* first : {"*a", "b?"})
    for (const char* second : {"*a", "b?"})
      one_by_one.push_back(glob(std::string("/") + first + "/" + second + "/x*", Level::kRead));
  for (const char* dir :
       {"/", "/1a", "/bz", "/1a/bz", "/bz/2a", "/1c", "/1a/bzz", "/bz/2a/xy", "/1a/1a/q"}) {
    const Decision a = testing::decide(braced, dir, true);
    const Decision b = testing::decide(one_by_one, dir, true);
    EXPECT_EQ(a.level, b.level) << dir;
    EXPECT_EQ(a.descendants_may_be_visible, b.descendants_may_be_visible) << dir;
    EXPECT_EQ(a.children_may_be_writable, b.children_may_be_writable) << dir;
  }
  EXPECT_TRUE(testing::decide(braced, "/1a/bz", true).descendants_may_be_visible);
  EXPECT_FALSE(testing::decide(braced, "/1c", true).descendants_may_be_visible);
  EXPECT_FALSE(testing::decide(braced, "/1a/bzz", true).descendants_may_be_visible);
}

}  // namespace
}  // namespace agentfense::policy
