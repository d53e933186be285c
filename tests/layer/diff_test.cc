#include <gtest/gtest.h>

#include <random>

#include "layer/changes.h"
#include "layer/line_diff.h"
#include "layer/listed_paths.h"
#include "layer_test_util.h"

namespace agentfense::layer::testing {
namespace {

std::string numbered(int from, int to) {
  std::string out;
  for (int i = from; i <= to; ++i) out += "line" + std::to_string(i) + "\n";
  return out;
}

TEST(LineDiff, EqualTextsGiveNoHunks) {
  EXPECT_EQ(unified_hunks("a\nb\n", "a\nb\n"), "");
}

TEST(LineDiff, SingleChangeWithThreeLinesContext) {
  std::string changed = numbered(1, 10);
  changed.replace(changed.find("line5\n"), 6, "five\n");
  EXPECT_EQ(unified_hunks(numbered(1, 10), changed),
            "@@ -2,7 +2,7 @@\n line2\n line3\n line4\n-line5\n+five\n line6\n line7\n line8\n");
}

TEST(LineDiff, DistantChangesMakeSeparateHunks) {
  std::string changed = numbered(1, 30);
  changed.replace(changed.find("line2\n"), 6, "");
  changed += "line31\n";
  EXPECT_EQ(unified_hunks(numbered(1, 30), changed),
            "@@ -1,5 +1,4 @@\n line1\n-line2\n line3\n line4\n line5\n"
            "@@ -28,3 +27,4 @@\n line28\n line29\n line30\n+line31\n");
}

TEST(LineDiff, FromAndToEmpty) {
  EXPECT_EQ(unified_hunks("", "a\n"), "@@ -0,0 +1 @@\n+a\n");
  EXPECT_EQ(unified_hunks("a\nb\n", ""), "@@ -1,2 +0,0 @@\n-a\n-b\n");
}

TEST(LineDiff, MissingFinalNewlineIsMarked) {
  EXPECT_EQ(unified_hunks("a\n", "a"), "@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of file\n");
}

TEST(LineDiff, FindsMinimalEditsInInterleavedChanges) {
  const std::string hunks = unified_hunks("a\nb\nc\nd\ne\n", "a\nx\nc\ny\ne\n");
  EXPECT_EQ(hunks, "@@ -1,5 +1,5 @@\n a\n-b\n+x\n c\n-d\n+y\n e\n");
}

TEST(LineDiff, HugeRewriteStaysCorrect) {
  // Far beyond the edit budget: falls back to one replace block, still a valid diff.
  std::string old_text, new_text;
  for (int i = 0; i < 5000; ++i) {
    old_text += "o" + std::to_string(i) + "\n";
    new_text += "n" + std::to_string(i) + "\n";
  }
  const std::string hunks = unified_hunks(old_text, new_text);
  EXPECT_EQ(hunks.rfind("@@ -1,5000 +1,5000 @@\n", 0), 0u);
  EXPECT_EQ(std::count(hunks.begin(), hunks.end(), '\n'), 10001);
}

// Lengths that differ by more than the edit budget: the end diagonal of the edit search
// was read before it was known to be one the search reached, from outside its array (a
// new 10,000-line file crashed the fs process, and a stopped sandbox's diff the server).
TEST(LineDiff, TextsWhoseLengthsDifferByMoreThanTheBudget) {
  const std::string grown = numbered(1, 10000);
  std::string hunks = unified_hunks("", grown);
  EXPECT_EQ(hunks.rfind("@@ -0,0 +1,10000 @@\n+line1\n", 0), 0u);
  EXPECT_EQ(std::count(hunks.begin(), hunks.end(), '\n'), 10001);
  hunks = unified_hunks(numbered(1, 10), grown);
  EXPECT_EQ(hunks.rfind("@@ -8,3 +8,9993 @@\n line8\n line9\n line10\n+line11\n", 0), 0u);
  hunks = unified_hunks(grown, numbered(1, 3));
  EXPECT_EQ(hunks.rfind("@@ -1,10000 +1,3 @@\n line1\n line2\n line3\n-line4\n", 0), 0u);
}

// Applies unified hunks to `old_text` as `patch` would; a context or removed line that
// does not match the old text fails the test.
std::string apply_hunks(const std::string& old_text, const std::string& hunks) {
  std::vector<std::string> old_lines;
  for (size_t at = 0; at < old_text.size();) {
    const size_t end = std::min(old_text.find('\n', at), old_text.size() - 1) + 1;
    old_lines.push_back(old_text.substr(at, end - at));
    at = end;
  }
  std::vector<std::string> records;
  for (size_t at = 0; at < hunks.size();) {
    const size_t end = hunks.find('\n', at);
    records.push_back(hunks.substr(at, end - at));
    at = end + 1;
  }
  std::string out;
  size_t next_old = 0;
  for (size_t r = 0; r < records.size(); ++r) {
    const std::string& record = records[r];
    if (record.starts_with("@@ -")) {
      const size_t start = std::stoul(record.substr(4));
      const size_t comma = record.find(',');
      const bool empty =
          comma < record.find(' ', 4) && record[comma + 1] == '0' && record[comma + 2] == ' ';
      const size_t first = empty ? start : start - 1;
      EXPECT_GE(first, next_old) << record;
      while (next_old < first && next_old < old_lines.size()) out += old_lines[next_old++];
      continue;
    }
    std::string content = record.substr(1) + "\n";
    if (r + 1 < records.size() && records[r + 1] == "\\ No newline at end of file") {
      content.pop_back();
      ++r;
    }
    if (record[0] == '+') {
      out += content;
      continue;
    }
    EXPECT_LT(next_old, old_lines.size()) << record;
    if (next_old >= old_lines.size()) break;
    EXPECT_EQ(old_lines[next_old], content) << record;
    if (record[0] == ' ') out += content;
    ++next_old;
  }
  while (next_old < old_lines.size()) out += old_lines[next_old++];
  return out;
}

// Random texts, related (edits of one another) and not, short and long (lengths that
// differ by more than the edit budget included): every diff takes the old text to the
// new one.
TEST(LineDiff, HunksAlwaysTurnTheOldTextIntoTheNewOne) {
  std::mt19937 random(20261205);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n)(random); };
  auto text = [&](size_t lines) {
    std::string out;
    for (size_t i = 0; i < lines; ++i)
      out += std::string(1, static_cast<char>('a' + pick(3))) + "\n";
    if (pick(4) == 0) out += "tail";  // no final newline
    return out;
  };
  for (int round = 0; round < 150; ++round) {
    const size_t length = round % 5 == 0 ? pick(4000) : pick(60);
    const std::string old_text = text(length);
    std::string new_text;
    if (round % 3 == 0) {
      new_text = text(round % 5 == 0 ? pick(4000) : pick(60));
    } else {
      new_text = old_text;
      for (size_t edits = pick(round % 5 == 0 ? 3000 : 10); edits > 0; --edits) {
        const size_t at = pick(new_text.size());
        if (pick(1) == 0) {
          new_text.insert(at, std::string(1, static_cast<char>('a' + pick(3))) + "\n");
        } else if (at < new_text.size()) {
          new_text.erase(at, 2);
        }
      }
    }
    EXPECT_EQ(apply_hunks(old_text, unified_hunks(old_text, new_text)), new_text)
        << "round " << round;
  }
}

using RenderDiffTest = LayerTest;

TEST_F(RenderDiffTest, RendersGitStyleFileDiffs) {
  write_file(base("mod.txt"), "one\ntwo\nthree\n");
  write_file(base("gone.txt"), "bye\n");
  copy_up("mod.txt");
  write_file(up("mod.txt"), "one\n2\nthree\n");
  write_file(up("new.txt"), "hi\n");
  EXPECT_EQ(journal_->add_whiteout("/gone.txt"), 0);
  const auto changes = list_changes(base_fd_.get(), *journal_, Scope(write_all()));
  EXPECT_EQ(render_diff(base_fd_.get(), *journal_, Scope(write_all()), changes),
            "diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n"
            "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
            "diff --git a/mod.txt b/mod.txt\n"
            "--- a/mod.txt\n+++ b/mod.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
            "diff --git a/new.txt b/new.txt\nnew file mode 100644\n"
            "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hi\n");
}

// rm -rf docs; mkdir docs; echo new > docs/a.md: the new a.md replaces the base's, and
// the review said "new file" (--- /dev/null), hiding what the commit overwrites.
TEST_F(RenderDiffTest, AFileInARecreatedDirectoryShowsWhatItReplaces) {
  write_file(base("docs/a.md"), "old\n");
  mirror_dir("docs");
  EXPECT_EQ(journal_->add_opaque("/docs"), 0);
  write_file(up("docs/a.md"), "new\n");
  const auto changes = list_changes(base_fd_.get(), *journal_, Scope(write_all()));
  EXPECT_EQ(render_diff(base_fd_.get(), *journal_, Scope(write_all()), changes),
            "diff --git a/docs/a.md b/docs/a.md\n"
            "--- a/docs/a.md\n+++ b/docs/a.md\n@@ -1 +1 @@\n-old\n+new\n");
}

// ... unless the rules hide the base entry: a directory-only rule hides the base's
// directory x, and the sandbox's new file x shows as new, nothing of x's old self.
TEST_F(RenderDiffTest, AReplacedEntryTheRulesHideIsNeverShown) {
  write_file(base("x/inside.txt"), "hidden\n");
  const policy::Policy rules = policy_of({"**=write", "x/=none:10"});
  EXPECT_EQ(journal_->add_whiteout("/x"), 0);
  write_file(up("x"), "mine\n");
  const auto changes = list_changes(base_fd_.get(), *journal_, Scope(rules));
  EXPECT_EQ(render_diff(base_fd_.get(), *journal_, Scope(rules), changes),
            "diff --git a/x b/x\nnew file mode 100644\n"
            "--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+mine\n");
}

// Each file's content is shown up to 1 MiB, and the whole diff stops after 16 MiB: ten
// thousand new 1 MiB files would otherwise make one 10 GB reply.
TEST_F(RenderDiffTest, TheWholeDiffIsCutAfterSixteenMiB) {
  const std::string megabyte_of_lines = [] {
    std::string text;
    while (text.size() < (1 << 20) - 100) text += std::string(99, 'x') + "\n";
    return text;
  }();
  for (int i = 0; i < 20; ++i) write_file(up("f" + std::to_string(100 + i)), megabyte_of_lines);
  const auto changes = list_changes(base_fd_.get(), *journal_, Scope(write_all()));
  ASSERT_EQ(changes.size(), 20u);
  const std::string diff = render_diff(base_fd_.get(), *journal_, Scope(write_all()), changes);
  EXPECT_GE(diff.size(), kMaxDiffTotalBytes);
  EXPECT_LT(diff.size(), kMaxDiffTotalBytes + (2 << 20));
  const std::size_t shown = static_cast<std::size_t>(
      std::count(diff.begin(), diff.end(), '@'));  // "@@ ... @@": four per file
  EXPECT_EQ(shown % 4, 0u);
  const std::string notice = "# diff cut after 16 MiB: " + std::to_string(20 - shown / 4) +
                             " more changes not shown (select fewer paths to see them)\n";
  EXPECT_TRUE(diff.ends_with(notice)) << diff.substr(diff.size() - 200);
}

// The diff walks no more of the layer than it can show: each change's diff names its
// path at least twice, so only the first 8 MiB of paths are listed, and the last line
// counts every change not shown, listed or not.
TEST_F(RenderDiffTest, ADiffListsOnlyTheChangesItCanShow) {
  std::string dir;
  for (int level = 0; level < 19; ++level) dir += (dir.empty() ? "" : "/") + std::string(200, 'x');
  constexpr int kFiles = 3000;  // each path ~3.8 KB: 11.5 MB of paths
  for (int i = 0; i < kFiles; ++i) write_file(up(dir + "/f" + std::to_string(1000 + i)), "");
  const std::size_t total = kFiles + 19;  // the directories are new too
  ASSERT_EQ(list_changes(base_fd_.get(), *journal_, Scope(write_all())).size(), total);
  std::size_t not_listed = 0;
  EXPECT_LT(list_first_changes(base_fd_.get(), *journal_, Scope(write_all()), &not_listed, {},
                               kMaxDiffTotalBytes / 2)
                .size(),
            total);
  EXPECT_GT(not_listed, 0u);
  const std::string diff = diff_first_changes(base_fd_.get(), *journal_, Scope(write_all()));
  std::size_t shown = 0;
  for (std::size_t at = diff.find("diff --git "); at != std::string::npos;
       at = diff.find("diff --git ", at + 1)) {
    ++shown;
  }
  const std::string notice = "# diff cut after 16 MiB: " + std::to_string(total - shown) +
                             " more changes not shown (select fewer paths to see them)\n";
  EXPECT_TRUE(diff.ends_with(notice)) << diff.substr(diff.size() - 200);
  EXPECT_LT(diff.size(), kMaxDiffTotalBytes + (64 << 10));
}

TEST_F(RenderDiffTest, BinaryAndModeOnlyChanges) {
  write_file(base("bin"), std::string("a\0b", 3));
  write_file(base("script.sh"), "echo\n");
  copy_up("bin");
  copy_up("script.sh");
  write_file(up("bin"), std::string("a\0c", 3));
  fs::permissions(up("script.sh"), static_cast<fs::perms>(0755));
  const auto changes = list_changes(base_fd_.get(), *journal_, Scope(write_all()));
  EXPECT_EQ(render_diff(base_fd_.get(), *journal_, Scope(write_all()), changes),
            "diff --git a/bin b/bin\nBinary files a/bin and b/bin differ\n"
            "diff --git a/script.sh b/script.sh\nold mode 100644\nnew mode 100755\n");
}

}  // namespace
}  // namespace agentfense::layer::testing
