// The reach index (reach_regex.h) only skips rules whose reach below a directory is all
// false: every directory decision and below_may_be_unreadable answer must be the same as
// with every rule walked. Random rules over a small alphabet of names make the patterns
// meet the directories often, with every construct subtree_reach.cc treats specially.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "policy/presets.h"

namespace agentfense::policy {
namespace {

class RandomRules {
 public:
  explicit RandomRules(unsigned seed) : random_(seed) {}

  std::vector<Rule> rules() {
    std::vector<Rule> rules;
    const int count = 1 + pick(8);
    for (int i = 0; i < count; ++i) rules.push_back(rule());
    return rules;
  }

  // A directory path of depth 0..4 over names the patterns use.
  std::string dir() {
    static const std::vector<std::string> kNames = {"a", "b", "ab", "c.txt", ".env", "x"};
    std::string path;
    for (int depth = pick(5); depth > 0; --depth) path += "/" + kNames[pick(kNames.size())];
    return path.empty() ? "/" : path;
  }

 private:
  int pick(std::size_t n) { return static_cast<int>(random_() % n); }

  std::string segment() {
    static const std::vector<std::string> kSegments = {
        "**",   "**",    "*",     "*",     "a",    "b",           "ab", "?b",
        "[ab]", "*.txt", ".env*", "{a,b}", "{a,}", "{a/b,c.txt}", "x"};
    return kSegments[pick(kSegments.size())];
  }

  Rule rule() {
    static const std::vector<Level> kLevels = {Level::kNone, Level::kView, Level::kRead,
                                               Level::kWrite};
    const Level level = kLevels[pick(kLevels.size())];
    const int priority = pick(3);
    if (pick(6) == 0) {  // a file rule: a literal path
      std::string path;
      for (int depth = 1 + pick(3); depth > 0; --depth) path += pick(2) ? "/a" : "/b";
      return Rule{
          .pattern = path, .level = level, .priority = priority, .type = PatternType::kFile};
    }
    std::string pattern;
    for (int segments = 1 + pick(4); segments > 0; --segments)
      pattern += (pattern.empty() ? "" : "/") + segment();
    if (pick(3) == 0) pattern += "/";  // a directory rule
    return Rule{
        .pattern = pattern, .level = level, .priority = priority, .type = PatternType::kGlob};
  }

  std::mt19937 random_;
};

std::string describe(const std::vector<Rule>& rules, const std::string& dir) {
  std::string text = "dir " + dir + ", rules:";
  for (const Rule& rule : rules) text += " [" + policy::describe(rule) + "]";
  return text;
}

void expect_same_answers(const std::vector<Rule>& rules, const std::vector<std::string>& dirs) {
  const Policy indexed = Policy::compile(rules);
  const Policy walked = Policy::compile_unindexed(rules);
  for (const std::string& dir : dirs) {
    const Decision a = indexed.decide(dir, true);
    const Decision b = walked.decide(dir, true);
    ASSERT_EQ(a.level, b.level) << describe(rules, dir);
    ASSERT_EQ(a.rule, b.rule) << describe(rules, dir);
    ASSERT_EQ(a.descendants_may_be_visible, b.descendants_may_be_visible) << describe(rules, dir);
    ASSERT_EQ(a.children_may_be_writable, b.children_may_be_writable) << describe(rules, dir);
    ASSERT_EQ(indexed.below_may_be_unreadable(dir), walked.below_may_be_unreadable(dir))
        << describe(rules, dir);
  }
}

TEST(ReachIndex, RandomRulesDecideEveryDirectoryAsWithoutTheIndex) {
  for (unsigned seed = 1; seed <= 3000; ++seed) {
    RandomRules random(seed);
    const std::vector<Rule> rules = random.rules();
    std::vector<std::string> dirs = {"/"};
    for (int i = 0; i < 12; ++i) dirs.push_back(random.dir());
    SCOPED_TRACE("seed " + std::to_string(seed));
    expect_same_answers(rules, dirs);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(ReachIndex, PresetsDecideEveryDirectoryAsWithoutTheIndex) {
  const std::vector<std::string> dirs = {"/",        "/src",          "/.git",          "/a/.git/x",
                                         "/secrets", "/a/secrets/b",  "/output",        "/tmp/x",
                                         "/.env.d",  "/config/creds", "/node_modules/p"};
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    expect_same_answers(preset_rules(name), dirs);
  }
}

}  // namespace
}  // namespace agentfense::policy
