// Issue 9 item 9: names and content from a sandbox cannot spoof a review.
#include "common/text_safety.h"

#include <gtest/gtest.h>

#include "common/errors.h"

namespace agentfense {
namespace {

TEST(QuotePath, PlainNamesAreUnchanged) {
  EXPECT_EQ(quote_path("/src/main.c"), "/src/main.c");
  EXPECT_EQ(quote_path("/a b/c-d_e.txt"), "/a b/c-d_e.txt");
}

TEST(QuotePath, NewlinesAndEscapesAreQuotedAsGitDoes) {
  EXPECT_EQ(quote_path("/a\nM PLEASE-IGNORE"), "\"/a\\nM PLEASE-IGNORE\"");
  EXPECT_EQ(quote_path("/x\x1b[31mred"), "\"/x\\033[31mred\"");
  EXPECT_EQ(quote_path("/q\"b\\s\t"), "\"/q\\\"b\\\\s\\t\"");
  EXPECT_EQ(quote_path("/caf\xc3\xa9"), "\"/caf\\303\\251\"");
}

TEST(TerminalSafe, KeepsTextNewlinesAndTabsButNoControls) {
  EXPECT_EQ(terminal_safe("line 1\n\tline 2\n"), "line 1\n\tline 2\n");
  EXPECT_EQ(terminal_safe("a\x1b[2Jb\rc\x07"), "a\\x1b[2Jb\\rc\\x07");
  EXPECT_EQ(terminal_safe("rtl\xe2\x80\xae"
                          "evil"),
            "rtl\\u202eevil");  // bidi override
  EXPECT_EQ(terminal_safe("a\\b"), "a\\b");
  EXPECT_EQ(terminal_safe("csi\xc2\x9b"), "csi\\u009b");
  EXPECT_EQ(terminal_safe("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(terminal_safe("bad\xff"), "bad\\xff");
}

TEST(WirePath, NonUtf8PathsRoundTripThroughQuoting) {
  EXPECT_EQ(path_to_wire("/caf\xc3\xa9"), "/caf\xc3\xa9");  // UTF-8: unchanged
  const std::string raw = "/x\xff\\\"y\n";
  const std::string wire = path_to_wire(raw);
  EXPECT_EQ(wire, "\"/x\\377\\\\\\\"y\\n\"");
  EXPECT_TRUE(is_valid_utf8(wire));
  EXPECT_EQ(path_from_wire(wire), raw);
  EXPECT_EQ(path_from_wire("/plain"), "/plain");
  for (const char* bad : {"\"/a\\\"", "\"/a\\9\"", "\"/a\\000\"", "\"/a\\47\""})
    EXPECT_THROW(path_from_wire(bad), UserError) << bad;
}

TEST(Utf8, Validates) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

}  // namespace
}  // namespace agentfense
