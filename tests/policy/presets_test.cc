// The built-in presets, checked through their behaviour on sample paths.
#include "policy/presets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/errors.h"
#include "policy_test_util.h"

namespace agentfense::policy {
namespace {

struct PresetCase {
  std::string preset;
  std::string path;
  bool is_dir;
  Level expected;
};

void PrintTo(const PresetCase& c, std::ostream* out) {
  *out << c.preset << " " << c.path << (c.is_dir ? " (dir)" : "");
}

class PresetBehaviour : public ::testing::TestWithParam<PresetCase> {};

TEST_P(PresetBehaviour, DecidesTheDocumentedLevel) {
  const PresetCase& c = GetParam();
  const Policy policy = Policy::compile(preset_rules(c.preset));
  EXPECT_EQ(policy.decide(c.path, c.is_dir).level, c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    AgentSafe, PresetBehaviour,
    ::testing::Values(PresetCase{"agent-safe", "/src/a.py", false, Level::kRead},
                      PresetCase{"agent-safe", "/src", true, Level::kRead},
                      PresetCase{"agent-safe", "/output/x", false, Level::kWrite},
                      PresetCase{"agent-safe", "/output", true, Level::kWrite},
                      PresetCase{"agent-safe", "/tmp/a/b", false, Level::kWrite},
                      PresetCase{"agent-safe", "/.env", false, Level::kNone},
                      PresetCase{"agent-safe", "/a/b/.env.local", false, Level::kNone},
                      PresetCase{"agent-safe", "/output/.env", false, Level::kNone},
                      PresetCase{"agent-safe", "/config/secrets/db", false, Level::kNone},
                      PresetCase{"agent-safe", "/config/secrets", true, Level::kNone},
                      PresetCase{"agent-safe", "/k.pem", false, Level::kNone},
                      PresetCase{"agent-safe", "/a/server.key", false, Level::kNone},
                      PresetCase{"agent-safe", "/a/credentials.json", false, Level::kNone},
                      PresetCase{"agent-safe", "/.git", true, Level::kNone},
                      PresetCase{"agent-safe", "/.git/HEAD", false, Level::kNone},
                      PresetCase{"agent-safe", "/vendor/x/.git/config", false, Level::kNone},
                      // A file named .git ("gitdir: ...") would point the human's git at a
                      // directory the agent wrote.
                      PresetCase{"agent-safe", "/output/.git", false, Level::kNone},
                      PresetCase{"agent-safe", "/.gitignore", false, Level::kRead}));

INSTANTIATE_TEST_SUITE_P(
    Others, PresetBehaviour,
    ::testing::Values(PresetCase{"read-only", "/a/b", false, Level::kRead},
                      PresetCase{"read-only", "/.env", false, Level::kRead},
                      PresetCase{"full-access", "/a/b", false, Level::kWrite},
                      PresetCase{"full-access", "/.git/HEAD", false, Level::kWrite},
                      PresetCase{"development", "/src/a.py", false, Level::kWrite},
                      PresetCase{"development", "/.env", false, Level::kNone},
                      PresetCase{"development", "/x/secrets/y", false, Level::kNone},
                      PresetCase{"development", "/x/id.key", false, Level::kNone},
                      PresetCase{"development", "/.git/HEAD", false, Level::kWrite},
                      PresetCase{"development", "/.git/index.lock", false, Level::kWrite},
                      PresetCase{"development", "/.git/objects/ab/cdef", false, Level::kWrite},
                      PresetCase{"development", "/.git/refs/heads/topic", false, Level::kWrite},
                      PresetCase{"development", "/.git/logs/HEAD", false, Level::kWrite},
                      // What makes the host's git run commands stays read-only.
                      PresetCase{"development", "/.git", true, Level::kRead},
                      PresetCase{"development", "/.git/config", false, Level::kRead},
                      PresetCase{"development", "/.git/hooks/pre-commit", false, Level::kRead},
                      PresetCase{"development", "/.git/info/exclude", false, Level::kRead},
                      PresetCase{"development", "/.git/commondir", false, Level::kRead},
                      PresetCase{"development", "/.git/rebase-merge/git-rebase-todo", false,
                                 Level::kRead},
                      PresetCase{"development", "/vendor/x/.git/config", false, Level::kRead},
                      PresetCase{"development", "/output/.git", false, Level::kRead},
                      // It chooses what the next upload brings (gitignored files too).
                      PresetCase{"development", "/a/.sandboxignore", false, Level::kRead},
                      // Secrets outrank it: a repository inside a hidden directory stays hidden.
                      PresetCase{"development", "/secrets/.git/objects/ab/cd", false, Level::kNone},
                      PresetCase{"view-only", "/a/b", false, Level::kView},
                      PresetCase{"view-only", "/.env", false, Level::kView}));

TEST(Presets, ListsAllNamesSorted) {
  EXPECT_THAT(preset_names(), ::testing::ElementsAre("agent-safe", "development", "full-access",
                                                     "read-only", "view-only"));
}

TEST(Presets, EveryPresetCompiles) {
  for (const std::string& name : preset_names()) {
    EXPECT_NO_THROW(Policy::compile(preset_rules(name))) << name;
  }
}

TEST(Presets, UnknownPresetNamesTheKnownOnes) {
  try {
    preset_rules("nope");
    FAIL() << "expected UserError";
  } catch (const UserError& error) {
    EXPECT_THAT(error.what(), ::testing::HasSubstr("unknown preset 'nope'"));
    EXPECT_THAT(error.what(), ::testing::HasSubstr("agent-safe, development"));
  }
}

TEST(Presets, LaterUserRuleAtEqualPriorityOverridesPreset) {
  std::vector<Rule> rules = preset_rules("view-only");
  rules.push_back(testing::glob("**/*", Level::kRead));
  EXPECT_EQ(Policy::compile(rules).decide("/a/b.txt", false).level, Level::kRead);
}

TEST(Presets, SecretRulesOutrankPriorityZeroUserRules) {
  std::vector<Rule> rules = preset_rules("agent-safe");
  rules.push_back(testing::glob("**/*", Level::kWrite));
  const Policy policy = Policy::compile(rules);
  EXPECT_EQ(policy.decide("/.env", false).level, Level::kNone);
  EXPECT_EQ(policy.decide("/src/a.py", false).level, Level::kWrite);
}

}  // namespace
}  // namespace agentfense::policy
