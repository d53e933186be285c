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
  EXPECT_EQ(journal_->add_whiteout(weird), 0);
  EXPECT_EQ(journal_->add_whiteout("/gone"), 0);
  EXPECT_EQ(journal_->add_opaque("/dir"), 0);
  EXPECT_EQ(journal_->record_copy_up(weird, BaseStamp{42, 7, 123456789012345}), 0);
  EXPECT_EQ(journal_->record_copy_up(weird, BaseStamp{1, 1, 1}), 0);  // the first stamp wins
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
  EXPECT_EQ(journal_->add_whiteout("/a"), 0);
  EXPECT_EQ(journal_->add_opaque("/a"), 0);
  EXPECT_EQ(journal_->remove_marker("/a"), 0);
  EXPECT_EQ(journal_->add_whiteout("/b"), 0);
  reopen_journal();
  EXPECT_FALSE(journal_->is_whiteout("/a"));
  EXPECT_FALSE(journal_->is_opaque("/a"));
  EXPECT_TRUE(journal_->is_whiteout("/b"));
}

TEST_F(JournalTest, TornLastLineIsIgnoredAndCutOff) {
  EXPECT_EQ(journal_->add_whiteout("/kept"), 0);
  journal_.reset();
  {
    std::ofstream out(state_ / "journal", std::ios::app | std::ios::binary);
    out << "W /torn-without-newli";
  }
  reopen_journal();
  EXPECT_TRUE(journal_->is_whiteout("/kept"));
  EXPECT_FALSE(journal_->is_whiteout("/torn-without-newli"));
  EXPECT_EQ(journal_->add_whiteout("/after"), 0);  // must land on its own line
  reopen_journal();
  EXPECT_TRUE(journal_->is_whiteout("/after"));
  EXPECT_EQ(journal_->whiteouts().size(), 2u);
}

TEST_F(JournalTest, ReserveAllocatesRoomBeyondTheEndWithoutGrowingTheFile) {
  ASSERT_EQ(journal_->reserve(), 0);
  struct stat st {};
  ASSERT_EQ(::stat((state_ / "journal").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);                  // replay sees nothing new
  EXPECT_GE(st.st_blocks * 512, 64 * 1024);  // but the blocks for the next records exist
  EXPECT_EQ(journal_->add_whiteout("/a"), 0);
  reopen_journal();
  EXPECT_TRUE(journal_->is_whiteout("/a"));
}

TEST_F(JournalTest, CorruptMiddleRecordFailsClosed) {
  journal_.reset();
  write_file(state_ / "journal", "W /a\nbogus record\nW /b\n", 0600);
  EXPECT_THROW(Journal::open(state_.string()), SystemError);
}

TEST_F(JournalTest, RenamePrefixMovesRecordsAndDropsReplaced) {
  EXPECT_EQ(journal_->add_whiteout("/src/dir/x"), 0);
  EXPECT_EQ(journal_->add_opaque("/src/dir"), 0);
  EXPECT_EQ(journal_->add_whiteout("/src-sibling"),
            0);  // shares the prefix text, not the directory
  EXPECT_EQ(journal_->record_copy_up("/src/dir/f", BaseStamp{5, 6, 7}), 0);
  EXPECT_EQ(journal_->add_whiteout("/dst/old"), 0);
  EXPECT_EQ(journal_->rename_prefix("/src", "/dst"), 0);
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

// A deleted base file's stamp wrote its (escaped, up to 32 KB) path twice; the origin is
// now written only when it differs, and journals that wrote it out still load.
TEST_F(JournalTest, AStampWritesItsPathOnceAndOldStampsStillLoad) {
  EXPECT_EQ(journal_->record_copy_up("/long-name", BaseStamp{1, 2, 3}), 0);
  EXPECT_EQ(read_file(state_ / "journal"), "S /long-name  1 2 3\n");
  journal_.reset();
  {
    std::ofstream out(state_ / "journal", std::ios::app | std::ios::binary);
    out << "S /old /old 4 5 6\nS /moved /elsewhere 7 8 9\n";
  }
  reopen_journal();
  for (const char* path : {"/long-name", "/old", "/moved"}) {
    ASSERT_TRUE(journal_->copy_up_record(path)) << path;
  }
  EXPECT_EQ(journal_->copy_up_record("/long-name")->origin, "/long-name");
  EXPECT_EQ(journal_->copy_up_record("/old")->origin, "/old");
  EXPECT_EQ(journal_->copy_up_record("/old")->stamp.ino, 4u);
  EXPECT_EQ(journal_->copy_up_record("/moved")->origin, "/elsewhere");
}

// What the records cost the write quota (JournalCharge) follows them, through renames,
// replay and reset.
TEST_F(JournalTest, TheChargeFollowsTheRecords) {
  EXPECT_EQ(journal_->charge().bytes, 0u);
  EXPECT_EQ(journal_->record_copy_up("/d/f", BaseStamp{1, 2, 3}), 0);
  EXPECT_EQ(journal_->add_whiteout("/d/f"), 0);
  EXPECT_EQ(journal_->add_opaque("/e"), 0);
  const std::uint64_t stamp = std::string("S /d/f  1 2 3\n").size();
  const std::uint64_t marker = std::string("W /d/f\n").size();
  EXPECT_EQ(journal_->charge().bytes, stamp + marker + std::string("O /e\n").size());
  EXPECT_EQ(journal_->charge().names, 2u);
  // Re-created: the whiteout's name goes back; "replaced" is logged as W + X.
  EXPECT_EQ(journal_->remove_marker("/d/f"), 0);
  EXPECT_EQ(journal_->charge().names, 1u);
  EXPECT_EQ(journal_->charge().bytes, stamp + 2 * marker + std::string("O /e\n").size());
  // Moved under a longer name, the stamp names its origin and costs more.
  EXPECT_EQ(journal_->rename_prefix("/d", "/longer"), 0);
  const layer::JournalCharge moved = journal_->charge();
  EXPECT_EQ(moved.bytes, std::string("S /longer/f /d/f 1 2 3\n").size() +
                             2 * std::string("W /longer/f\n").size() +
                             std::string("O /e\n").size());
  reopen_journal();
  EXPECT_EQ(journal_->charge().bytes, moved.bytes);
  EXPECT_EQ(journal_->charge().names, moved.names);
  EXPECT_EQ(journal_->forget_copy_up("/longer/f"), 0);
  EXPECT_EQ(journal_->charge().bytes, std::string("O /e\n").size());
  journal_->reset();
  EXPECT_EQ(journal_->charge().bytes, 0u);
  EXPECT_EQ(journal_->charge().names, 0u);
}

TEST_F(JournalTest, ResetForgetsEverythingDurably) {
  EXPECT_EQ(journal_->add_whiteout("/a"), 0);
  EXPECT_EQ(journal_->add_opaque("/b"), 0);
  EXPECT_EQ(journal_->record_copy_up("/c", BaseStamp{1, 2, 3}), 0);
  journal_->reset();
  EXPECT_TRUE(journal_->whiteouts().empty());
  reopen_journal();
  EXPECT_TRUE(journal_->whiteouts().empty());
  EXPECT_TRUE(journal_->opaques().empty());
  EXPECT_FALSE(journal_->copy_up_stamp("/c"));
  EXPECT_EQ(fs::file_size(state_ / "journal"), 0u);
}

// empty() is what lets a server skip the commit after a command: every kind of record
// must count, and so must a whiteout that was cleared (the entry was replaced).
TEST_F(JournalTest, EmptyOnlyWithoutAnyRecord) {
  EXPECT_TRUE(journal_->empty());
  EXPECT_EQ(journal_->add_whiteout("/a"), 0);
  EXPECT_FALSE(journal_->empty());
  EXPECT_EQ(journal_->remove_marker("/a"), 0);  // replaced: still something to commit
  EXPECT_FALSE(journal_->empty());
  journal_->reset();
  EXPECT_TRUE(journal_->empty());
  EXPECT_EQ(journal_->add_opaque("/b"), 0);
  EXPECT_FALSE(journal_->empty());
  journal_->reset();
  EXPECT_EQ(journal_->record_copy_up("/c", BaseStamp{1, 2, 3}), 0);
  EXPECT_FALSE(journal_->empty());
  reopen_journal();
  EXPECT_FALSE(journal_->empty());
  journal_->reset();
  reopen_journal();
  EXPECT_TRUE(journal_->empty());
}

TEST_F(JournalTest, CompactsWhenDeadRecordsDominate) {
  EXPECT_EQ(journal_->add_whiteout("/replaced"), 0);
  EXPECT_EQ(journal_->remove_marker("/replaced"), 0);
  for (int i = 0; i < 3000; ++i) {
    EXPECT_EQ(journal_->add_whiteout("/churn"), 0);
    EXPECT_EQ(journal_->remove_marker("/churn"), 0);
  }
  EXPECT_EQ(journal_->add_whiteout("/live"), 0);
  const auto before = fs::file_size(state_ / "journal");
  reopen_journal();
  EXPECT_LT(fs::file_size(state_ / "journal"), before / 100);
  EXPECT_EQ(journal_->whiteouts(), std::vector<std::string>{"/live"});
  reopen_journal();
  EXPECT_EQ(journal_->whiteouts(), std::vector<std::string>{"/live"});
  EXPECT_TRUE(journal_->was_replaced("/replaced"));
}

// `rm f && echo > f && rm f`: f is deleted again, and was replaced once. A compaction that
// wrote the cleared whiteout after the live one cleared the live one: f came back.
TEST_F(JournalTest, CompactionKeepsAWhiteoutOfAReplacedPath) {
  EXPECT_EQ(journal_->add_whiteout("/f"), 0);
  EXPECT_EQ(journal_->remove_marker("/f"), 0);
  EXPECT_EQ(journal_->add_whiteout("/f"), 0);
  EXPECT_EQ(journal_->add_opaque("/d"), 0);
  EXPECT_EQ(journal_->add_whiteout("/d"), 0);
  EXPECT_EQ(journal_->remove_marker("/d"), 0);
  EXPECT_EQ(journal_->add_opaque("/d"), 0);
  for (int i = 0; i < 1100; ++i) {
    EXPECT_EQ(journal_->add_whiteout("/churn"), 0);
    EXPECT_EQ(journal_->remove_marker("/churn"), 0);
  }
  EXPECT_EQ(journal_->forget_copy_up("/churn"), 0);
  for (int pass = 0; pass < 2; ++pass) {  // compacted, then replayed as it was written
    reopen_journal();
    EXPECT_EQ(journal_->whiteouts(), std::vector<std::string>{"/f"});
    EXPECT_EQ(journal_->opaques(), std::vector<std::string>{"/d"});
    EXPECT_TRUE(journal_->was_replaced("/f"));
    EXPECT_TRUE(journal_->was_replaced("/d"));
    EXPECT_EQ(journal_->charge().bytes, fs::file_size(state_ / "journal"));
  }
}

// While the fs runs, records that undo each other are compacted away at the next
// reserve() (each operation's first step): a sandbox renaming one file back and forth
// appended 5.5 MB in 5 s, outside its write quota, and with 8 KiB paths it could fill the
// host's disk. The state stays exactly what the records say, live and after a replay.
TEST_F(JournalTest, ChurnWhileRunningIsCompactedAtTheNextReserve) {
  const std::string deep = "/" + std::string(200, 'd') + "/" + std::string(200, 'e');
  EXPECT_EQ(journal_->add_whiteout("/gone"), 0);
  EXPECT_EQ(journal_->record_copy_up(deep, {1, 2, 3}), 0);
  std::uintmax_t largest = 0;
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(journal_->reserve(), 0);
    ASSERT_EQ(journal_->rename_prefix(deep, deep + "2"), 0);
    ASSERT_EQ(journal_->rename_prefix(deep + "2", deep), 0);
    largest = std::max(largest, fs::file_size(state_ / "journal"));
  }
  // 40,000 renames of 800-odd bytes each: 35 MB without compaction.
  EXPECT_LT(largest, std::uintmax_t{2} << 20);
  EXPECT_EQ(journal_->whiteouts(), std::vector<std::string>{"/gone"});
  EXPECT_TRUE(journal_->copy_up_stamp(deep).has_value());
  EXPECT_FALSE(fs::exists(state_ / "journal.compact"));
  // Appends after a compaction land in the new file: a replay sees them.
  EXPECT_EQ(journal_->add_whiteout("/after"), 0);
  reopen_journal();
  EXPECT_EQ(journal_->whiteouts(), (std::vector<std::string>{"/after", "/gone"}));
  EXPECT_EQ(journal_->copy_up_stamp(deep)->size, 2);
}

TEST_F(JournalTest, ConcurrentAppendsAllSurviveReplay) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 200; ++i) {
        EXPECT_EQ(journal_->add_whiteout("/t" + std::to_string(t) + "/f" + std::to_string(i)), 0);
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
