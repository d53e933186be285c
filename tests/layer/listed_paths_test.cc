// Replies list at most kMaxListedPathBytes of paths per list and count the rest.
#include "layer/listed_paths.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace agentfense::layer
