// CreateSandbox's policy warnings (server/policy_warnings.h) walk the real codebase
// directory. Their cost is bounded whatever the rules: a legal 10,000-rule policy once
// cost 0.5 GB and 0.5 CPU-s per directory (attack J6).
#include "server/policy_warnings.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "policy/policy_test_util.h"
#include "test_support/temp_dir.h"

namespace agentfense::server {
namespace {

using policy::Level;
using policy::Policy;
using policy::Rule;
using policy::testing::glob;
using policy::testing::paired_rules;

// `dirs` directories a0, a1, ... each holding one file.
void make_tree(const std::filesystem::path& root, int dirs) {
  for (int i = 0; i < dirs; ++i) {
    const std::filesystem::path dir = root / ("a" + std::to_string(i));
    std::filesystem::create_directory(dir);
    std::ofstream(dir / "f") << "x\n";
  }
}

bool says_cut_short(const std::vector<std::string>& warnings) {
  return !warnings.empty() && warnings.back().find("stopped early") != std::string::npos;
}

TEST(PolicyWarnings, NamesAShadowedNoneRule) {
  const testing::TempDir tree("af-policy-warnings");
  std::filesystem::create_directory(tree.path() / "src");
  std::ofstream(tree.path() / "src" / ".env") << "KEY=1\n";
  const Policy policy =
      Policy::compile({glob("/src/**", Level::kRead), glob("**/.env", Level::kNone)});
  EXPECT_EQ(policy_warnings(policy, tree.path()),
            std::vector<std::string>{"rule 2 (**/.env -> none) is overridden at /src/.env by "
                                     "rule 1 (/src/** -> read): give rule 2 priority >= 1"});
}

TEST(PolicyWarnings, TenThousandRulesOverATreeFinishWithinTheDefaultBudget) {
  const testing::TempDir tree("af-policy-warnings");
  make_tree(tree.path(), 50);
  // 50 directories cost at most 50 x 10,000 rule checks: within the budget.
  EXPECT_TRUE(policy_warnings(Policy::compile(paired_rules(5000)), tree.path()).empty());
}

TEST(PolicyWarnings, PastItsRuleCheckBudgetTheWalkStopsAndSaysSo) {
  const testing::TempDir tree("af-policy-warnings");
  make_tree(tree.path(), 50);
  // Each directory costs up to 5,000 checks (the none rules, none of which reaches
  // below it): 20,000 checks stop the walk after a few directories.
  const std::vector<std::string> warnings =
      policy_warnings(Policy::compile(paired_rules(5000)), tree.path(), 20'000);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(says_cut_short(warnings)) << warnings.back();
}

TEST(PolicyWarnings, WhatWasFoundBeforeTheBudgetRanOutIsStillReported) {
  const testing::TempDir tree("af-policy-warnings");
  std::ofstream(tree.path() / ".env") << "KEY=1\n";
  make_tree(tree.path(), 50);
  std::vector<Rule> rules = paired_rules(4999);
  rules.push_back(glob("**/.env", Level::kNone));
  rules.push_back(glob("/.e*", Level::kRead));  // longer literal prefix: decides /.env
  const std::vector<std::string> warnings =
      policy_warnings(Policy::compile(rules), tree.path(), 20'000);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("overridden at /.env"), std::string::npos) << warnings[0];
  EXPECT_TRUE(says_cut_short(warnings)) << warnings.back();
}

}  // namespace
}  // namespace agentfense::server
