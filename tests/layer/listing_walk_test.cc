#include "layer/listing_walk.h"

#include <fcntl.h>

#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using Strings = std::vector<std::string>;

class ListingWalkTest : public LayerTest {
 protected:
  Strings walk(const fs::path& dir, bool recursive, ListingBudget& budget,
               UnlistedNames* unlisted = nullptr) {
    Strings seen;
    ListingWalk walker(recursive, budget,
                       [&](const std::string& path, const struct stat&) { seen.push_back(path); });
    const UniqueFd fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    walker.run(fd.get(), "/");
    if (unlisted) *unlisted = walker.unlisted();
    return seen;
  }
};

TEST_F(ListingWalkTest, DepthFirstInNameOrderLeavingOutNamesThatAreNotUtf8) {
  write_file(base("a/x"), "");
  write_file(base("a-b"), "");
  write_file(base("b\xff/hidden"), "");
  write_file(base("c\xfe"), "");
  write_file(base("d"), "");
  ListingBudget budget;
  UnlistedNames unlisted;
  EXPECT_EQ(walk(base_, true, budget, &unlisted), (Strings{"/a", "/a/x", "/a-b", "/d"}));
  EXPECT_EQ(unlisted.count, 2u);  // what lies below one is not walked, nor counted
  EXPECT_EQ(unlisted.first, "/b\xff");
  EXPECT_FALSE(budget.spent());
  ListingBudget top;
  EXPECT_EQ(walk(base_, false, top), (Strings{"/a", "/a-b", "/d"}));
}

TEST_F(ListingWalkTest, StopsWhereTheBudgetDoes) {
  for (int i = 0; i < 10; ++i) write_file(base("dir/f" + std::to_string(i)), "");
  // A budget with room for two more entries.
  ListingBudget budget;
  for (std::size_t taken = 0; taken + 2 < kMaxListedEntries; ++taken) ASSERT_TRUE(budget.take(1));
  EXPECT_EQ(walk(base_, true, budget), (Strings{"/dir", "/dir/f0"}));
  EXPECT_TRUE(budget.spent());
}

}  // namespace
}  // namespace agentfense::layer::testing
