// Policy files: YAML or JSON lists of rules, or {preset:, rules:}.
#include "policy/policy_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/errors.h"
#include "policy/presets.h"

namespace agentfense::policy {
namespace {

using ::testing::HasSubstr;

TEST(PolicyFile, YamlList) {
  const std::vector<Rule> rules = parse_policy_text(R"(
- pattern: /src/**
  permission: read
- {pattern: "/out/", permission: write, priority: 10, type: directory}
- pattern: /a.txt
  level: PERMISSION_VIEW
  type: file
  priority: -2
)",
                                                    "p.yaml");
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0], (Rule{.pattern = "/src/**", .level = Level::kRead}));
  EXPECT_EQ(rules[1], (Rule{.pattern = "/out/",
                            .level = Level::kWrite,
                            .priority = 10,
                            .type = PatternType::kDirectory}));
  EXPECT_EQ(
      rules[2],
      (Rule{
          .pattern = "/a.txt", .level = Level::kView, .priority = -2, .type = PatternType::kFile}));
}

TEST(PolicyFile, JsonList) {
  const std::vector<Rule> rules = parse_policy_text(
      R"([{"pattern": "**/*.pem", "permission": "none", "priority": 100},
          {"pattern": "**/*", "permission": "read"}])",
      "p.json");
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0], (Rule{.pattern = "**/*.pem", .level = Level::kNone, .priority = 100}));
  EXPECT_EQ(rules[1], (Rule{.pattern = "**/*", .level = Level::kRead}));
}

TEST(PolicyFile, PresetRulesComeFirst) {
  const std::vector<Rule> rules = parse_policy_text(R"(
rules:
  - {pattern: "**/*", permission: read}
preset: view-only
)",
                                                    "p.yaml");
  std::vector<Rule> expected = preset_rules("view-only");
  expected.push_back(Rule{.pattern = "**/*", .level = Level::kRead});
  EXPECT_EQ(rules, expected);
}

TEST(PolicyFile, APriorityIsDecimalAsOnTheCommandLine) {
  // YAML 1.1 would make 010 octal 8: the `none` rule at "010" would then lose to 9.
  const std::vector<Rule> rules = parse_policy_text(
      "- {pattern: '**', permission: read, priority: 9}\n"
      "- {pattern: '**/.env', permission: none, priority: 010}\n"
      "- {pattern: b, permission: read, priority: '+7'}",
      "p.yaml");
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[1].priority, 10);
  EXPECT_EQ(rules[2].priority, 7);
}

TEST(PolicyFile, PresetAlone) {
  EXPECT_EQ(parse_policy_text("preset: agent-safe", "p.yaml"), preset_rules("agent-safe"));
}

struct BadFile {
  std::string text;
  std::string message;
};

class PolicyFileErrors : public ::testing::TestWithParam<BadFile> {};

TEST_P(PolicyFileErrors, NameTheFileAndEntry) {
  try {
    parse_policy_text(GetParam().text, "team.yaml");
    FAIL() << "parsed";
  } catch (const UserError& error) {
    EXPECT_THAT(error.what(), ::testing::StartsWith("team.yaml: "));
    EXPECT_THAT(error.what(), HasSubstr(GetParam().message));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PolicyFileErrors,
    ::testing::Values(
        BadFile{"- {pattern: a, permission: read}\n- {pattern: b, permision: read}",
                "rule 2: unknown key 'permision'"},
        BadFile{"- {pattern: a}", "rule 1: missing 'permission'"},
        BadFile{"- {permission: read}", "rule 1: missing 'pattern'"},
        BadFile{"- {pattern: a, permission: reed}", "rule 1: unknown permission 'reed'"},
        BadFile{"- {pattern: a, permission: read, level: none}", "only one of"},
        BadFile{"- {pattern: a, permission: read, priority: high}",
                "priority 'high' is not a decimal 32-bit integer"},
        BadFile{"- {pattern: a, permission: read, priority: 4294967296}",
                "not a decimal 32-bit integer"},
        // YAML would read these as 16 and 10; --rule never does.
        BadFile{"- {pattern: a, permission: read, priority: 0x10}", "priority '0x10' is not"},
        BadFile{"- {pattern: a, permission: read, priority: 1e1}", "priority '1e1' is not"},
        // Equal keys: YAML keeps the last one, which could drop a `none` rule or widen one.
        BadFile{R"({"rules": [{"pattern": "**/.env", "permission": "none"}],
                   "rules": [{"pattern": "**", "permission": "write"}]})",
                "top level: duplicate key 'rules'"},
        BadFile{"preset: read-only\npreset: full-access", "top level: duplicate key 'preset'"},
        BadFile{"- {pattern: docs/**, pattern: '**', permission: read}",
                "rule 1: duplicate key 'pattern'"},
        BadFile{"- {pattern: a, permission: none, priority: 100, priority: -1}",
                "rule 1: duplicate key 'priority'"},
        BadFile{"- {pattern: a, permission: none, type: glob, type: directory}",
                "rule 1: duplicate key 'type'"},
        BadFile{"- {pattern: a, permission: none, permission: write}",
                "rule 1: duplicate key 'permission'"},
        BadFile{"- {pattern: a, permission: read, type: folder}", "unknown type 'folder'"},
        BadFile{"- {pattern: [a], permission: read}", "'pattern' must be a string"},
        BadFile{"- just-a-string", "rule 1: expected a mapping"},
        BadFile{"preset: agent-safe\nextra: 1", "unknown key 'extra'"},
        BadFile{"rules: {pattern: a}", "expected a list of rules"},
        BadFile{"42", "expected a list of rules or {preset:, rules:}"},
        BadFile{"preset: nope", "unknown preset 'nope'"}, BadFile{"[{pattern: a", "line "}));

}  // namespace
}  // namespace agentfense::policy
