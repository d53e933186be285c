// What a rename replaced at its destination (CopyUpRecord::replaced, `D` records): kept
// beside the moved entry's origin through replay and compaction, charged to the quota,
// dropped when the entry moves on; journals written before it load as they did.
#include <fstream>

#include "layer/journal.h"
#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using JournalReplacedTest = LayerTest;

// Dead records (a churned whiteout) make the next open compact the journal.
void make_compaction_due(Journal& journal) {
  for (int i = 0; i < 1100; ++i) {
    EXPECT_EQ(journal.add_whiteout("/churn"), 0);
    EXPECT_EQ(journal.remove_marker("/churn"), 0);
  }
  EXPECT_EQ(journal.forget_copy_up("/churn"), 0);
}

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
      make_compaction_due(*journal_);
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

// `rm d2/x d2/y d2/z && mkdir d && mv a d/x && echo > d/z && mv -T d d2` as the fs
// records it: the stamps of what the sandbox deleted under d2 stay (a `K` record), x's
// as what the file renamed there replaced, y's and z's as they were.
void directory_renamed_over_deleted(Journal& journal) {
  for (const auto& [path, stamp] : {std::pair{"/d2/x", BaseStamp{1, 2, 3}},
                                    {"/d2/y", BaseStamp{4, 5, 6}},
                                    {"/d2/z", BaseStamp{7, 8, 9}}}) {
    EXPECT_EQ(journal.record_copy_up(path, stamp), 0);
    EXPECT_EQ(journal.add_whiteout(path), 0);
  }
  EXPECT_EQ(journal.record_copy_up("/a", BaseStamp{10, 11, 12}), 0);
  EXPECT_EQ(journal.rename_prefix("/a", "/d/x"), 0);
  EXPECT_EQ(journal.record_replaced("/d/x", SeenBase{}), 0);
  EXPECT_EQ(journal.rename_prefix_keeping_seen("/d", "/d2"), 0);
  EXPECT_EQ(journal.add_opaque("/d2"), 0);
}

TEST_F(JournalReplacedTest, DirectoryRenamedOverDeletedEntriesKeepsTheirStamps) {
  directory_renamed_over_deleted(*journal_);
  EXPECT_NE(read_file(state_ / "journal").find("R /a /d/x\nD /d/x\nK /d /d2\nO /d2\n"),
            std::string::npos);
  for (int pass = 0; pass < 3; ++pass) {  // live, replayed, compacted and replayed
    const std::optional<CopyUpRecord> x = journal_->copy_up_record("/d2/x");
    ASSERT_TRUE(x && x->replaced && x->replaced->version);
    EXPECT_EQ(x->origin, "/a");
    EXPECT_EQ(*x->replaced->version, (BaseStamp{1, 2, 3}));
    for (const auto& [path, stamp] :
         {std::pair{"/d2/y", BaseStamp{4, 5, 6}}, {"/d2/z", BaseStamp{7, 8, 9}}}) {
      const std::optional<CopyUpRecord> kept = journal_->copy_up_record(path);
      ASSERT_TRUE(kept) << path;
      EXPECT_EQ(kept->origin, path);
      EXPECT_EQ(kept->stamp, stamp) << path;
      EXPECT_FALSE(kept->replaced);
    }
    EXPECT_TRUE(journal_->whiteouts().empty());  // the opaque d2 hides what was deleted
    if (pass == 1) {
      make_compaction_due(*journal_);
    }
    reopen_journal();
  }
  // What it holds is charged as the compacted journal writes it.
  EXPECT_EQ(journal_->charge().bytes, read_file(state_ / "journal").size());
}

// Journals from before `K`: their directory renames dropped what was under the
// destination, and still do.
TEST_F(JournalReplacedTest, DirectoryRenamesFromOlderJournalsDropWhatWasThere) {
  journal_.reset();
  std::ofstream(state_ / "journal", std::ios::binary)
      << "S /d2/x  1 2 3\nW /d2/x\nR /d /d2\nO /d2\n";
  reopen_journal();
  EXPECT_FALSE(journal_->copy_up_record("/d2/x"));
  EXPECT_TRUE(journal_->whiteouts().empty());
}

TEST_F(JournalReplacedTest, MalformedRecordsFailClosed) {
  for (const char* bad :
       {"D /b 4 5\n", "D /b 4 5 6 7\n", "D /b x 5 6\n", "D\n", "K /d\n", "K /d /e /f\n"}) {
    journal_.reset();
    std::ofstream(state_ / "journal", std::ios::binary) << bad;
    EXPECT_THROW(Journal::open(state_.string()), SystemError) << bad;
  }
}

}  // namespace
}  // namespace agentfense::layer::testing
