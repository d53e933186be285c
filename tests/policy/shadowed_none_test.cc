// A none rule that a rule of lower or equal priority overrides at an existing path is
// reported, never silent (issue 11): the precedence stays as documented; the analysis
// names each such path, both rules and the fix.
#include "policy/shadowed_none.h"

#include <gtest/gtest.h>

#include <random>

#include "policy/presets.h"
#include "policy_test_util.h"

namespace agentfense::policy {
namespace {

using testing::glob;
using testing::paired_rules;

std::vector<PathKind> files(std::initializer_list<const char*> paths) {
  std::vector<PathKind> out;
  for (const char* path : paths) out.push_back({path, false});
  return out;
}

std::vector<std::string> warnings(const std::vector<Rule>& rules,
                                  const std::vector<PathKind>& paths, std::size_t limit = 100) {
  const Policy policy = Policy::compile(rules);
  return shadow_warnings(policy, find_shadowed_none(policy, paths), limit);
}

TEST(ShadowedNone, TheIssueExampleNamesPathRulesAndFix) {
  // At equal priority the longer literal prefix wins: /src/.env stays readable.
  const std::vector<Rule> rules = {glob("/src/**", Level::kRead), glob("**/.env", Level::kNone)};
  EXPECT_EQ(Policy::compile(rules).decide("/src/.env", false).level, Level::kRead);
  EXPECT_EQ(warnings(rules, files({"/src/.env", "/src/main.py", "/.env", "/docs/.env"})),
            std::vector<std::string>{"rule 2 (**/.env -> none) is overridden at /src/.env by "
                                     "rule 1 (/src/** -> read): give rule 2 priority >= 1"});
}

TEST(ShadowedNone, TheFixWorks) {
  std::vector<Rule> rules = {glob("/src/**", Level::kRead), glob("**/.env", Level::kNone, 1)};
  EXPECT_EQ(Policy::compile(rules).decide("/src/.env", false).level, Level::kNone);
  EXPECT_TRUE(warnings(rules, files({"/src/.env"})).empty());
}

TEST(ShadowedNone, AHigherPriorityOverrideIsIntended) {
  // Presets hide secrets at priority 100; a user rule at 100+ means "show it".
  std::vector<Rule> rules = preset_rules("agent-safe");
  rules.push_back(glob("/.env", Level::kRead, 200));
  EXPECT_TRUE(warnings(rules, files({"/.env", "/src/.env", "/a.key"})).empty());
}

TEST(ShadowedNone, PresetsAloneWarnOfNothing) {
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(ShadowFinder(Policy::compile(preset_rules(name))).possible());
  }
}

TEST(ShadowedNone, UserRuleAtThePresetsPriorityShadowsItsSecrets) {
  // **/.env* -> none is rule 4, and its twin **/.env*/** (which also matches the name
  // itself: ** may be no segment) rule 5; the later one is named.
  std::vector<Rule> rules = preset_rules("agent-safe");
  rules.push_back(glob("/config/**", Level::kRead, 100));
  EXPECT_EQ(warnings(rules, files({"/config/.env.prod", "/config/app.yaml"})),
            std::vector<std::string>{"rule 5 (**/.env*/** -> none) is overridden at "
                                     "/config/.env.prod by rule 15 (/config/** -> read): give "
                                     "rule 5 priority >= 101"});
}

TEST(ShadowedNone, ALaterRuleOfEqualPriorityShadows) {
  const std::vector<Rule> rules = {glob("**/*.pem", Level::kNone), glob("**/*", Level::kWrite)};
  EXPECT_EQ(warnings(rules, files({"/a/cert.pem"})),
            std::vector<std::string>{"rule 1 (**/*.pem -> none) is overridden at /a/cert.pem by "
                                     "rule 2 (**/* -> write): give rule 1 priority >= 1"});
}

TEST(ShadowedNone, FileRuleBeatsGlobAtEqualPriority) {
  const std::vector<Rule> rules = {glob("**/secret.txt", Level::kNone),
                                   testing::typed("/secret.txt", Level::kView, PatternType::kFile)};
  EXPECT_EQ(warnings(rules, files({"/secret.txt"})).size(), 1u);
}

TEST(ShadowedNone, ANoneWinnerOrNoNoneRuleIsNotReported) {
  EXPECT_TRUE(warnings({glob("**/*", Level::kRead)}, files({"/a"})).empty());
  EXPECT_TRUE(warnings({glob("**/*", Level::kRead), glob("/a", Level::kNone)}, files({"/a"}))
                  .empty());  // the none rule wins there (longer prefix)
  EXPECT_TRUE(
      warnings({glob("/x/**", Level::kRead), glob("**/.env", Level::kNone)}, files({"/y/.env"}))
          .empty());  // nothing else matches: hidden as written
}

TEST(ShadowedNone, DirectoriesAreJudgedAsDirectories) {
  // A directory rule beats a glob at equal priority, and matches directories only.
  const std::vector<Rule> rules = {glob("/src/secrets/", Level::kRead),
                                   glob("**/secrets", Level::kNone)};
  const Policy policy = Policy::compile(rules);
  EXPECT_EQ(find_shadowed_none(policy, {{"/src/secrets", true}}).size(), 1u);
  EXPECT_TRUE(find_shadowed_none(policy, {{"/src/secrets", false}}).empty());  // a file
}

TEST(ShadowedNone, TheBestRankedShadowedNoneRuleIsNamed) {
  const std::vector<Rule> rules = {glob("**/.env", Level::kNone), glob("/src/.env", Level::kNone),
                                   glob("/src/**", Level::kRead), glob("/src/.e*", Level::kRead)};
  // At /src/.env rule 2 has the longest literal prefix and decides: hidden as written.
  EXPECT_TRUE(warnings(rules, files({"/src/.env"})).empty());
  const std::vector<Rule> shadowed = {glob("**/.env", Level::kNone), glob("/src/*", Level::kNone),
                                      glob("/src/**", Level::kRead),
                                      glob("/src/.e*", Level::kRead)};
  // Winner: rule 4 (/src/.e*, the longest prefix). Shadowed: rules 1 and 2; rule 2
  // (longer prefix than rule 1) is the better ranked.
  EXPECT_EQ(warnings(shadowed, files({"/src/.env"})),
            std::vector<std::string>{"rule 2 (/src/* -> none) is overridden at /src/.env by rule 4 "
                                     "(/src/.e* -> read): give rule 2 priority >= 1"});
}

TEST(ShadowedNone, ManyPathsAreCappedWithACount) {
  const std::vector<Rule> rules = {glob("/src/**", Level::kRead), glob("**/*.pyc", Level::kNone)};
  std::vector<PathKind> paths;
  for (int i = 0; i < 10; ++i) paths.push_back({"/src/m" + std::to_string(i) + ".pyc", false});
  const std::vector<std::string> capped = warnings(rules, paths, 3);
  ASSERT_EQ(capped.size(), 3u);
  EXPECT_NE(capped[0].find("/src/m0.pyc"), std::string::npos);
  EXPECT_NE(capped[1].find("/src/m1.pyc"), std::string::npos);
  EXPECT_NE(capped[2].find("8 more paths"), std::string::npos) << capped[2];
  EXPECT_NE(capped[2].find("/src/m2.pyc"), std::string::npos);
  EXPECT_NE(capped[2].find("priority"), std::string::npos);
  EXPECT_EQ(warnings(rules, paths, 10).size(), 10u);  // exactly at the cap: all named
}

TEST(ShadowedNone, WalksCanSkipSubtreesWhereNothingCanBeShadowed) {
  const Policy policy =
      Policy::compile({glob("/src/**", Level::kRead), glob("**/.env", Level::kNone)});
  ShadowFinder finder(policy);
  EXPECT_TRUE(finder.possible());
  EXPECT_TRUE(finder.may_occur_below("/"));
  EXPECT_TRUE(finder.may_occur_below("/src"));
  EXPECT_TRUE(finder.may_occur_below("/src/a/b"));
  EXPECT_FALSE(finder.may_occur_below("/docs"));
  EXPECT_FALSE(finder.may_occur_below("/node_modules/x"));
}

// J6: 5,000 none and 5,000 read rules at one priority made 25M (none, granting) pairs,
// 0.5 GB, rescanned for every directory. The finder now checks each rule at most once
// per directory and once per rule matching a path.
TEST(ShadowedNone, TenThousandRulesCostRuleChecksLinearInTheRules) {
  const Policy policy = Policy::compile(paired_rules(5000));
  ShadowFinder finder(policy);
  EXPECT_TRUE(finder.possible());
  for (int i = 0; i < 100; ++i) {
    const std::size_t before = finder.steps();
    EXPECT_FALSE(finder.may_occur_below("/a" + std::to_string(i)));
    EXPECT_LE(finder.steps() - before, policy.rules().size());
  }
  EXPECT_TRUE(finder.may_occur_below("/d4999/x"));
  const std::size_t before = finder.steps();
  EXPECT_FALSE(finder.at("/d17/x/y/z", false));  // the read rule alone matches
  EXPECT_LE(finder.steps() - before, 2u);
}

// The per-priority answer of may_occur_below equals the definition: some none rule and
// some granting rule of the same priority outranking it both may match below.
TEST(ShadowedNone, MayOccurBelowMatchesEveryPairChecked) {
  const std::vector<std::string> patterns = {"/a/**",  "**/b", "/a/b/*", "**/*.env", "/c/",
                                             "/a/*/c", "**",   "/b/**",  "{a,c}/**", "/a"};
  const std::vector<std::string> dirs = {"/", "/a", "/a/b", "/b", "/c", "/a/x/c", "/d"};
  std::mt19937 random(7);
  for (int round = 0; round < 300; ++round) {
    std::vector<Rule> rules;
    const int count = 1 + static_cast<int>(random() % 6);
    for (int i = 0; i < count; ++i) {
      rules.push_back(glob(patterns[random() % patterns.size()],
                           random() % 2 ? Level::kNone : Level::kRead,
                           static_cast<int>(random() % 2)));
    }
    const Policy policy = Policy::compile(rules);
    ShadowFinder finder(policy);
    bool any_pair = false;
    for (const std::string& dir : dirs) {
      bool expected = false;
      for (int n = 0; n < count; ++n) {
        for (int g = 0; g < count; ++g) {
          const bool pair = rules[n].level == Level::kNone && rules[g].level != Level::kNone &&
                            rules[n].priority == rules[g].priority && policy.outranks(g, n);
          any_pair = any_pair || pair;
          expected = expected ||
                     (pair && policy.may_match_below(n, dir) && policy.may_match_below(g, dir));
        }
      }
      EXPECT_EQ(finder.may_occur_below(dir), expected) << "round " << round << " dir " << dir;
    }
    EXPECT_EQ(finder.possible(), any_pair) << "round " << round;
  }
}

}  // namespace
}  // namespace agentfense::policy
