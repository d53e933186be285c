// A timed-out command's error keeps the last bytes of each stream (exec_result_tail.h).
#include "server/exec_result_tail.h"

#include <gtest/gtest.h>

#include <string>

namespace agentfense::server {
namespace {

TEST(ExecResultTail, KeepsTheLastBytesStartingOnACharacterAndMarksTheCut) {
  v1::ExecResult result;
  result.set_stdout(
      "abc\xE2\x82\xAC"
      "def");  // a euro sign straddles the cut
  result.set_stderr("ok");
  result.set_stdout_bytes("\xFF");
  result.set_exit_code(137);
  const v1::ExecResult tail = ExecResultTail(result, 4);
  EXPECT_EQ(tail.stdout(), "def");  // not the euro sign's last byte
  EXPECT_TRUE(tail.stdout_truncated());
  EXPECT_EQ(tail.stderr(), "ok");
  EXPECT_FALSE(tail.stderr_truncated());
  EXPECT_EQ(tail.stdout_bytes(), "");  // the text alone
  EXPECT_EQ(tail.exit_code(), 137);
}

TEST(ExecResultTail, RawOutputIsCutAtMostThreeBytesPastTheLimit) {
  bool cut = false;
  // Continuation bytes that start no character: at most 3 skipped, never the whole tail.
  EXPECT_EQ(OutputTail(std::string(10, '\x80'), 6, cut), std::string(3, '\x80'));
  EXPECT_TRUE(cut);
  cut = false;
  EXPECT_EQ(OutputTail("\xFF\xFE\xFD", 2, cut), "\xFE\xFD");
  EXPECT_TRUE(cut);
  cut = false;
  EXPECT_EQ(OutputTail("short", 10, cut), "short");
  EXPECT_FALSE(cut);
}

TEST(ExecResultTail, ATruncationAlreadyMarkedStaysMarked) {
  v1::ExecResult result;
  result.set_stdout("ab");
  result.set_stdout_truncated(true);  // past runtime.output_limit
  EXPECT_TRUE(ExecResultTail(result, 10).stdout_truncated());
}

}  // namespace
}  // namespace agentfense::server
