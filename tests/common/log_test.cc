// Log lines carry client text (commands, paths, names). Nothing in such a value may act
// on the viewer that shows the log: no forged line, no escape sequence, no reordered
// text, in either format.
#include "common/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace agentfense::log {
namespace {

// A command as a tenant could send it: C1 next line (a line break to Python's
// splitlines and some viewers), an 8-bit CSI, a right-to-left override, U+2028, an ESC
// sequence, a newline, and a byte that is not UTF-8.
const std::string kHostile =
    "true \xc2\x85INFO forged=1 \xc2\x9b\x33\x31m \xe2\x80\xae \xe2\x80\xa8 \x1b[2J\nINFO x \xff";

bool ascii_printable(const std::string& line) {
  for (std::size_t i = 0; i + 1 < line.size(); ++i) {  // the last byte is the '\n'
    const auto c = static_cast<unsigned char>(line[i]);
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return line.back() == '\n';
}

TEST(LogLines, ClientTextCannotActOnAViewerInTextFormat) {
  const std::string line =
      format_line(Level::kInfo, "audit.exec", {{"command", kHostile}}, Format::kText);
  EXPECT_TRUE(ascii_printable(line)) << line;
  EXPECT_NE(line.find("\\u0085"), std::string::npos) << line;
  EXPECT_NE(line.find("\\u202e"), std::string::npos) << line;
  EXPECT_NE(line.find("\\u2028"), std::string::npos) << line;
}

TEST(LogLines, ClientTextCannotActOnAViewerInJsonFormat) {
  const std::string line =
      format_line(Level::kInfo, "audit.exec", {{"command", kHostile}}, Format::kJson);
  EXPECT_TRUE(ascii_printable(line)) << line;
  // Still the same text for a JSON reader (the byte that is not UTF-8 becomes U+FFFD).
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["command"].get<std::string>().substr(0, 7), "true \xc2\x85");
  EXPECT_EQ(parsed["event"], "audit.exec");
}

TEST(LogLines, PlainTextStaysReadable) {
  EXPECT_EQ(format_line(Level::kInfo, "e", {{"path", "/w/r\xc3\xa9sum\xc3\xa9.txt"}}, Format::kText)
                .substr(25),  // after the timestamp and its space
            "INFO e path=/w/r\xc3\xa9sum\xc3\xa9.txt\n");
}

}  // namespace
}  // namespace agentfense::log
