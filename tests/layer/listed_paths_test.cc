// Replies list at most kMaxListedPathBytes of paths per list and count the rest.
#include "layer/listed_paths.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace agentfense::layer {
namespace {

std::string path_of(std::size_t length, int i) {
  std::string path = "/" + std::to_string(i);
  path.resize(length, 'x');
  return path;
}

TEST(ListedPaths, ChangesPastTheBudgetAreCounted) {
  std::vector<Change> changes;
  for (int i = 0; i < 10; ++i) changes.push_back({path_of(100, i), ChangeKind::kAdded, 'f'});
  EXPECT_EQ(bound_changes(changes, 350), 7u);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[2].path, path_of(100, 2));
  // Within the budget nothing changes.
  EXPECT_EQ(bound_changes(changes, 300), 0u);
  EXPECT_EQ(changes.size(), 3u);
}

TEST(ListedPaths, TheFirstPathIsAlwaysListed) {
  std::vector<Change> changes{{path_of(5000, 0), ChangeKind::kAdded, 'f'},
                              {path_of(10, 1), ChangeKind::kAdded, 'f'}};
  EXPECT_EQ(bound_changes(changes, 100), 1u);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].path, path_of(5000, 0));
}

TEST(ListedPaths, EachCommitListIsBoundedWithItsReasonsAndNotes) {
  CommitResult result;
  for (int i = 0; i < 4; ++i) {
    result.applied.push_back(path_of(100, i));
    result.notes[path_of(100, i)] = "mode";
    result.denied.push_back(path_of(100, 10 + i));
    result.reasons[path_of(100, 10 + i)] = "not writable";
  }
  result.conflicts = {path_of(100, 20)};
  result.reasons[path_of(100, 20)] = "changed";
  result.applied_omitted = 1;  // counted before, e.g. by the fs process
  bound_commit_lists(result, 250);
  EXPECT_EQ(result.applied.size(), 2u);
  EXPECT_EQ(result.applied_omitted, 3u);
  EXPECT_EQ(result.denied.size(), 2u);
  EXPECT_EQ(result.denied_omitted, 2u);
  EXPECT_EQ(result.conflicts.size(), 1u);
  EXPECT_EQ(result.conflicts_omitted, 0u);
  EXPECT_EQ(result.notes.size(), 2u);
  EXPECT_EQ(result.reasons.size(), 3u);  // two denied, one conflict
  EXPECT_FALSE(result.reasons.contains(path_of(100, 13)));
}

// Whatever order the changes come in, FirstChanges keeps exactly what sorting all of
// them and bound_changes would keep, while holding no more than the budget (plus one).
TEST(ListedPaths, FirstChangesKeepsWhatBoundingTheSortedListWould) {
  std::mt19937 random(5);
  for (int round = 0; round < 200; ++round) {
    std::vector<Change> all;
    const std::size_t count = std::uniform_int_distribution<std::size_t>(0, 300)(random);
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t length = std::uniform_int_distribution<std::size_t>(2, 60)(random);
      all.push_back({"/" + std::to_string(random() % 1000) + std::string(length, 'p'),
                     ChangeKind::kAdded, 'f'});
    }
    const std::size_t budget = std::uniform_int_distribution<std::size_t>(1, 4000)(random);
    FirstChanges first(budget);
    std::size_t held = 0;
    for (const Change& change : all) {
      first.add(change);
      held = std::max(held, first.omitted());  // (touch the counter as a caller would)
    }
    std::vector<Change> expected = all;
    std::sort(expected.begin(), expected.end(),
              [](const Change& a, const Change& b) { return a.path < b.path; });
    const std::size_t omitted = bound_changes(expected, budget);
    const std::vector<Change> kept = first.take();
    ASSERT_EQ(kept.size(), expected.size()) << "round " << round;
    for (std::size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i].path, expected[i].path);
    EXPECT_EQ(first.omitted(), omitted) << "round " << round;
  }
}

}  // namespace
}  // namespace agentfense::layer
