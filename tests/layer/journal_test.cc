#include "layer/journal.h"

#include <unistd.h>

#include <thread>

#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

using JournalTest = LayerTest;

TEST_F(JournalTest, CreatesPrivateLayout) {
  EXPECT_TRUE(fs::is_directory(upper()));
  EXPECT_TRUE(fs::is_regular_file(state_ / "journal"));
  EXPECT_EQ(mode_of(state_), 0700u);
  EXPECT_EQ(mode_of(upper()), 0700u);
  struct stat via_fd {
  }, via_path{};
  ASSERT_EQ(::fstat(journal_->upper_fd(), &via_fd), 0);
  ASSERT_EQ(::stat(upper().c_str(), &via_path), 0);
  EXPECT_EQ(via_fd.st_ino, via_path.st_ino);
}

TEST_F(JournalTest, ReplaysMarkersAndStampsWithWeirdNames) {
  const std::string weird = std::string("/dir/new\nline\\back slash\t\xff\xfe");
  journal_->add_whiteout(weird);
  journal_->add_whiteout("/gone");
  journal_->add_opaque("/dir");
  journal_->record_copy_up(weird, BaseStamp{42, 7, 123456789012345});
  journal_->record_copy_up(weird, BaseStamp{1, 1, 1});  // the first stamp wins
  reopen_journal();
  EXPECT_TRUE(journal_->is_whiteout(weird));
  EXPECT_TRUE(journal_->is_whiteout("/gone"));
  EXPECT_FALSE(journal_->is_whiteout("/dir"));
  EXPECT_TRUE(journal_->is_opaque("/dir"));
  ASSERT_TRUE(journal_->copy_up_stamp(weird));
  EXPECT_EQ(journal_->copy_up_stamp(weird)->ino, 42u);
  EXPECT_EQ(journal_->copy_up_stamp(weird)->size, 7);
  EXPECT_EQ(journal_->copy_up_stamp(weird)->mtime_ns, 123456789012345);
  const std::vector<std::string> sorted = {weird, "/gone"};
  EXPECT_EQ(journal_->whiteouts(), sorted);
}

TEST_F(JournalTest, LaterRecordsOverrideEarlier) {
  journal_->add_whiteout("/a");
  journal_->add_opaque("/a");
  journal_->remove_marker("/a");
  journal_->add_whiteout("/b");
  reopen_journal();
  EXPECT_FALSE(journal_->is_whiteout("/a"));
  EXPECT_FALSE(journal_->is_opaque("/a"));
  EXPECT_TRUE(journal_->is_whiteout("/b"));
}

TEST_F(JournalTest, TornLastLineIsIgnoredAndCutOff) {
  journal_->add_whiteout("/kept");
  journal_.reset();
  {
    std::ofstream out(state_ / "journal", std::ios::app | std::ios::binary);
    out << "W /torn-without-newli";
  }
  reopen_journal();
  EXPECT_TRUE(journal_->is_whiteout("/kept"));
  EXPECT_FALSE(journal_->is_whiteout("/torn-without-newli"));
  journal_->add_whiteout("/after");  // must land on its own line
  reopen_journal();
  EXPECT_TRUE(journal_->is_whiteout("/after"));
  EXPECT_EQ(journal_->whiteouts().size(), 2u);
}

TEST_F(JournalTest, CorruptMiddleRecordFailsClosed) {
  journal_.reset();
  write_file(state_ / "journal", "W /a\nbogus record\nW /b\n", 0600);
  EXPECT_THROW(Journal::open(state_.string()), SystemError);
}

TEST_F(JournalTest, RenamePrefixMovesRecordsAndDropsReplaced) {
  journal_->add_whiteout("/src/dir/x");
  journal_->add_opaque("/src/dir");
  journal_->add_whiteout("/src-sibling");  // shares the prefix text, not the directory
  journal_->record_copy_up("/src/dir/f", BaseStamp{5, 6, 7});
  journal_->add_whiteout("/dst/old");
  journal_->rename_prefix("/src", "/dst");
  for (int pass = 0; pass < 2; ++pass) {  // in memory, then after replay
    EXPECT_TRUE(journal_->is_whiteout("/dst/dir/x"));
    EXPECT_TRUE(journal_->is_opaque("/dst/dir"));
    EXPECT_FALSE(journal_->is_whiteout("/src/dir/x"));
    EXPECT_TRUE(journal_->is_whiteout("/src-sibling"));
    EXPECT_FALSE(journal_->is_whiteout("/dst/old"));
    ASSERT_TRUE(journal_->copy_up_record("/dst/dir/f"));
    EXPECT_EQ(journal_->copy_up_record("/dst/dir/f")->origin, "/src/dir/f");
    EXPECT_FALSE(journal_->copy_up_stamp("/src/dir/f"));
    reopen_journal();
  }
}

TEST_F(JournalTest, ResetForgetsEverythingDurably) {
  journal_->add_whiteout("/a");
  journal_->add_opaque("/b");
  journal_->record_copy_up("/c", BaseStamp{1, 2, 3});
  journal_->reset();
  EXPECT_TRUE(journal_->whiteouts().empty());
  reopen_journal();
  EXPECT_TRUE(journal_->whiteouts().empty());
  EXPECT_TRUE(journal_->opaques().empty());
  EXPECT_FALSE(journal_->copy_up_stamp("/c"));
  EXPECT_EQ(fs::file_size(state_ / "journal"), 0u);
}

TEST_F(JournalTest, CompactsWhenDeadRecordsDominate) {
  journal_->add_whiteout("/replaced");
  journal_->remove_marker("/replaced");
  for (int i = 0; i < 3000; ++i) {
    journal_->add_whiteout("/churn");
    journal_->remove_marker("/churn");
  }
  journal_->add_whiteout("/live");
  const auto before = fs::file_size(state_ / "journal");
  reopen_journal();
  EXPECT_LT(fs::file_size(state_ / "journal"), before / 100);
  EXPECT_EQ(journal_->whiteouts(), std::vector<std::string>{"/live"});
  reopen_journal();
  EXPECT_EQ(journal_->whiteouts(), std::vector<std::string>{"/live"});
  EXPECT_TRUE(journal_->was_replaced("/replaced"));
}

TEST_F(JournalTest, ConcurrentAppendsAllSurviveReplay) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 200; ++i) {
        journal_->add_whiteout("/t" + std::to_string(t) + "/f" + std::to_string(i));
        (void)journal_->is_opaque("/t");
      }
    });
  }
  for (auto& thread : threads) thread.join();
  reopen_journal();
  EXPECT_EQ(journal_->whiteouts().size(), 800u);
}

}  // namespace
}  // namespace agentfense::layer::testing
