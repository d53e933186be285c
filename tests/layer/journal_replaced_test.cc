// What a rename replaced at its destination (CopyUpRecord::replaced, `D` records): kept
// beside the moved entry's origin through replay and compaction, charged to the quota,
// dropped when the entry moves on; journals written before it load as they did.
#include <fstream>

#include "layer/journal.h"
#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using JournalReplacedTest = LayerTest;

// `mv a b` as the fs records it, `b` replacing `replaced`.
void renamed_over(Journal& journal, const SeenBase& replaced) {
  EXPECT_EQ(journal.record_copy_up("/a", BaseStamp{1, 2, 3}), 0);
  EXPECT_EQ(journal.rename_prefix("/a", "/b"), 0);
  EXPECT_EQ(journal.record_replaced("/b", replaced), 0);
}

TEST_F(JournalReplacedTest, KeptBesideTheOriginThroughReplayAndCompaction) {
  renamed_over(*journal_, SeenBase{BaseStamp{4, 5, 6}});
  EXPECT_EQ(journal_->record_copy_up("/c", BaseStamp{7, 8, 9}), 0);
  EXPECT_EQ(journal_->rename_prefix("/c", "/new"), 0);
  EXPECT_EQ(journal_->record_replaced("/new", SeenBase{}), 0);  // nothing was there
  EXPECT_EQ(read_file(state_ / "journal"),
            "S /a  1 2 3\nR /a /b\nD /b 4 5 6\nS /c  7 8 9\nR /c /new\nD /new\n");
  for (int pass = 0; pass < 3; ++pass) {  // live, replayed, compacted and replayed
    const std::optional<CopyUpRecord> b = journal_->copy_up_record("/b");
    ASSERT_TRUE(b && b->replaced && b->replaced->version);
    EXPECT_EQ(b->origin, "/a");
    EXPECT_EQ(*b->replaced->version, (BaseStamp{4, 5, 6}));
    EXPECT_EQ(seen_base(*b, "/b")->version, b->replaced->version);
    const std::optional<CopyUpRecord> fresh = journal_->copy_up_record("/new");
    ASSERT_TRUE(fresh && fresh->replaced);
    EXPECT_FALSE(fresh->replaced->version);
    if (pass == 1) {
      // Dead records (a churned whiteout) make the next open compact the journal.
      for (int i = 0; i < 1100; ++i) {
        EXPECT_EQ(journal_->add_whiteout("/churn"), 0);
        EXPECT_EQ(journal_->remove_marker("/churn"), 0);
      }
      EXPECT_EQ(journal_->forget_copy_up("/churn"), 0);
    }
    reopen_journal();
  }
  const std::string compacted = read_file(state_ / "journal");
  EXPECT_NE(compacted.find("S /b /a 1 2 3\nD /b 4 5 6\n"), std::string::npos) << compacted;
  EXPECT_NE(compacted.find("S /new /c 7 8 9\nD /new\n"), std::string::npos) << compacted;
}

// Only a renamed entry has one: for a copied-up or deleted base file the stamp is the
// version replaced, and a path without a stamp has nothing to attach it to.
TEST_F(JournalReplacedTest, OnlyRenamedEntriesRecordIt) {
  EXPECT_EQ(journal_->record_copy_up("/own", BaseStamp{1, 2, 3}), 0);
  EXPECT_EQ(journal_->record_replaced("/own", SeenBase{BaseStamp{4, 5, 6}}), 0);
  EXPECT_EQ(journal_->record_replaced("/none", SeenBase{}), 0);
  EXPECT_EQ(read_file(state_ / "journal"), "S /own  1 2 3\n");
  EXPECT_FALSE(journal_->copy_up_record("/own")->replaced);
  EXPECT_EQ(*seen_base(*journal_->copy_up_record("/own"), "/own")->version, (BaseStamp{1, 2, 3}));
}

// Moved on, the entry replaces something else where it lands: the fs records that.
TEST_F(JournalReplacedTest, DroppedWhenTheEntryMovesOn) {
  renamed_over(*journal_, SeenBase{BaseStamp{4, 5, 6}});
  const JournalCharge with = journal_->charge();
  EXPECT_EQ(journal_->rename_prefix("/b", "/x"), 0);
  EXPECT_EQ(journal_->charge().bytes, with.bytes - std::string("D /b 4 5 6\n").size());
  for (int pass = 0; pass < 2; ++pass) {
    ASSERT_TRUE(journal_->copy_up_record("/x"));
    EXPECT_EQ(journal_->copy_up_record("/x")->origin, "/a");
    EXPECT_FALSE(journal_->copy_up_record("/x")->replaced);
    EXPECT_FALSE(seen_base(*journal_->copy_up_record("/x"), "/x"));
    reopen_journal();
  }
}

TEST_F(JournalReplacedTest, ChargedWithItsStampAndFreedWithIt) {
  renamed_over(*journal_, SeenBase{BaseStamp{4, 5, 6}});
  const std::uint64_t bytes = std::string("S /b /a 1 2 3\nD /b 4 5 6\n").size();
  EXPECT_EQ(journal_->charge().bytes, bytes);
  reopen_journal();
  EXPECT_EQ(journal_->charge().bytes, bytes);
  EXPECT_EQ(journal_->forget_copy_up("/b"), 0);
  EXPECT_EQ(journal_->charge().bytes, 0u);
  EXPECT_TRUE(journal_->empty());
}

// A layer outlives a server upgrade: a rename recorded before `D` existed loads as it
// did, its destination's base version unknown (the commit checks the origin alone).
TEST_F(JournalReplacedTest, RenamesFromOlderJournalsLoadWithoutIt) {
  journal_.reset();
  std::ofstream(state_ / "journal", std::ios::binary) << "S /a  1 2 3\nR /a /b\n";
  reopen_journal();
  const std::optional<CopyUpRecord> b = journal_->copy_up_record("/b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->origin, "/a");
  EXPECT_FALSE(b->replaced);
  EXPECT_FALSE(seen_base(*b, "/b"));
}

TEST_F(JournalReplacedTest, MalformedRecordsFailClosed) {
  for (const char* bad : {"D /b 4 5\n", "D /b 4 5 6 7\n", "D /b x 5 6\n", "D\n"}) {
    journal_.reset();
    std::ofstream(state_ / "journal", std::ios::binary) << bad;
    EXPECT_THROW(Journal::open(state_.string()), SystemError) << bad;
  }
}

}  // namespace
}  // namespace agentfense::layer::testing
