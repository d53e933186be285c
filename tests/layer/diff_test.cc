#include <gtest/gtest.h>

#include "layer/changes.h"
#include "layer/line_diff.h"
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
