// A directory moved off a base directory the sandbox deleted and made again (`L` records):
// what the sandbox saw of the base entries there stays at their paths, for the commit that
// deletes them with the directory; journals written before it (`K`) load as they did.
#include <fstream>

#include "layer/journal.h"
#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using JournalMovedAwayTest = LayerTest;

constexpr BaseStamp kDir{1, 2, 3};
constexpr BaseStamp kF{4, 5, 6};
constexpr BaseStamp kG{7, 8, 9};
constexpr BaseStamp kX{10, 11, 12};
constexpr BaseStamp kA{13, 14, 15};

// `rm -rf d && mkdir d && echo n > d/f && mv a d/x` as the fs records it.
void deleted_and_made_again(Journal& journal) {
  for (const auto& [path, stamp] :
       {std::pair{"/d/f", kF}, {"/d/g", kG}, {"/d/x", kX}, {"/d", kDir}}) {
    EXPECT_EQ(journal.record_copy_up(path, stamp), 0);
    EXPECT_EQ(journal.add_whiteout(path), 0);
  }
  EXPECT_EQ(journal.remove_marker("/d"), 0);
  EXPECT_EQ(journal.add_opaque("/d"), 0);
  EXPECT_EQ(journal.remove_marker("/d/f"), 0);
  EXPECT_EQ(journal.record_copy_up("/a", kA), 0);
  EXPECT_EQ(journal.rename_prefix("/a", "/d/x"), 0);
  EXPECT_EQ(journal.record_replaced("/d/x", SeenBase{kX}), 0);
}

void expect_stamp(const Journal& journal, const std::string& path, const BaseStamp& stamp) {
  const std::optional<CopyUpRecord> record = journal.copy_up_record(path);
  ASSERT_TRUE(record) << path;
  EXPECT_EQ(record->origin, path);
  EXPECT_EQ(record->stamp, stamp) << path;
  EXPECT_FALSE(record->replaced) << path;
}

// `mv d e` then, and the whiteout of d the fs adds after it.
TEST_F(JournalMovedAwayTest, DeletionStampsStayAtTheSource) {
  deleted_and_made_again(*journal_);
  EXPECT_EQ(journal_->rename_dir_leaving_seen("/d", "/e"), 0);
  EXPECT_EQ(journal_->add_whiteout("/d"), 0);
  EXPECT_NE(read_file(state_ / "journal").find("L /d /e\nW /d\n"), std::string::npos);
  for (int pass = 0; pass < 3; ++pass) {  // live, replayed, compacted and replayed
    expect_stamp(*journal_, "/d", kDir);
    expect_stamp(*journal_, "/d/f", kF);
    expect_stamp(*journal_, "/d/g", kG);
    expect_stamp(*journal_, "/d/x", kX);  // what a travels away from replaced
    EXPECT_TRUE(journal_->was_replaced("/d/f"));
    // Only what travels moved: a, checked at its origin, replacing nothing at e/x.
    const std::optional<CopyUpRecord> x = journal_->copy_up_record("/e/x");
    ASSERT_TRUE(x);
    EXPECT_EQ(x->origin, "/a");
    EXPECT_FALSE(x->replaced);
    for (const char* gone : {"/e", "/e/f", "/e/g"}) EXPECT_FALSE(journal_->seen_at(gone)) << gone;
    EXPECT_FALSE(journal_->was_replaced("/e/f"));
    EXPECT_EQ(journal_->opaques(), (std::vector<std::string>{"/e"}));
    if (pass == 1) {
      for (int i = 0; i < 1100; ++i) {  // dead records make the next open compact
        EXPECT_EQ(journal_->add_whiteout("/churn"), 0);
        EXPECT_EQ(journal_->remove_marker("/churn"), 0);
      }
      EXPECT_EQ(journal_->forget_copy_up("/churn"), 0);
    }
    reopen_journal();
  }
  EXPECT_EQ(journal_->charge().bytes, read_file(state_ / "journal").size());
}

// Journals from before `L`: their `K` took everything along, and still does.
TEST_F(JournalMovedAwayTest, OlderJournalsMoveEverything) {
  deleted_and_made_again(*journal_);
  EXPECT_EQ(journal_->rename_prefix_keeping_seen("/d", "/e"), 0);
  reopen_journal();
  EXPECT_FALSE(journal_->seen_at("/d/f"));
  EXPECT_EQ(journal_->copy_up_record("/e/f")->origin, "/d/f");
  EXPECT_TRUE(journal_->was_replaced("/e/f"));
}

TEST_F(JournalMovedAwayTest, MalformedRecordsFailClosed) {
  for (const char* bad : {"L /d\n", "L /d /e /f\n", "L\n"}) {
    journal_.reset();
    std::ofstream(state_ / "journal", std::ios::binary) << bad;
    EXPECT_THROW(Journal::open(state_.string()), SystemError) << bad;
  }
}

}  // namespace
}  // namespace agentfense::layer::testing
