// Every automaton of a policy has a bounded budget (re2_options.h): names made up inside
// a sandbox grew each one's DFA towards 64 MiB (sweep Z, Z1). Past its budget a DFA
// starts over; it must never answer differently, and sets too large for the small budget
// must still compile.
#include "policy/bounded_set.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "policy_test_util.h"

namespace agentfense::policy {
namespace {

using testing::glob;

// Random names over "ab": an "a" twenty bytes before the end needs a DFA state for each
// of the 2^20 last-21-byte windows, far past any budget.
std::vector<std::string> random_names(int count, unsigned seed) {
  std::mt19937 random(seed);
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) {
    std::string name;
    for (int j = 0; j < 200; ++j) name.push_back(random() % 2 ? 'a' : 'b');
    names.push_back(std::move(name));
  }
  return names;
}

bool a_twenty_before_the_end(const std::string& name) {
  return name.size() >= 21 && name[name.size() - 21] == 'a';
}

TEST(BoundedSet, AnAutomatonPastItsBudgetStillAnswersEveryNameRight) {
  BoundedSet set;
  std::string error;
  ASSERT_TRUE(set.add("[ab]*a[ab]{20}", &error)) << error;
  ASSERT_TRUE(set.add("b+", &error)) << error;
  ASSERT_TRUE(set.compile());
  for (const std::string& name : random_names(4000, 1)) {
    std::vector<int> matches;
    re2::RE2::Set::ErrorInfo info{};
    const bool matched = set.match(name, &matches, &info);
    ASSERT_EQ(info.kind, re2::RE2::Set::kNoError) << name;
    ASSERT_EQ(matched, a_twenty_before_the_end(name)) << name;
  }
}

TEST(BoundedSet, APolicyPastItsAutomataBudgetsDecidesAsItsRulesSay) {
  const Policy policy = Policy::compile(
      {glob("**", Level::kWrite), glob("**/*a????????????????????", Level::kRead, 1)});
  for (const std::string& name : random_names(3000, 2)) {
    const Level expected = a_twenty_before_the_end(name) ? Level::kRead : Level::kWrite;
    ASSERT_EQ(policy.decide("/" + name, false).level, expected) << name;
    ASSERT_EQ(policy.decide("/" + name + "/x", false).level, Level::kWrite) << name;
    ASSERT_TRUE(policy.decide("/" + name, true).descendants_may_be_visible) << name;
  }
}

TEST(BoundedSet, ASetTooLargeForTheSmallBudgetCompilesWithTheLargeOne) {
  BoundedSet set;
  std::string error;
  for (int i = 0; i < 20000; ++i)
    ASSERT_TRUE(set.add("/dir" + std::to_string(i) + "/[a-z]*\\.txt", &error)) << error;
  ASSERT_TRUE(set.compile());
  std::vector<int> matches;
  re2::RE2::Set::ErrorInfo info{};
  ASSERT_TRUE(set.match("/dir19999/notes.txt", &matches, &info));
  EXPECT_EQ(matches, std::vector<int>{19999});
}

}  // namespace
}  // namespace agentfense::policy
