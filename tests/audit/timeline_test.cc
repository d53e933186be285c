// What `agentfense audit` prints for a reviewer: file names and command lines are the
// agent's, and none may add a line, move the cursor, recolour or reorder what is shown.
#include "audit/timeline.h"

#include <gtest/gtest.h>

#include "audit/event.h"
#include "audit/summary.h"

namespace agentfense::audit {
namespace {

// Cursor up + erase line, a bidi override, and a newline with a forged event after it.
const std::string kForged =
    "x\x1b[1A\x1b[2K\xe2\x80\xae"
    "elif\n10:00:00.000000Z DENIED  file";

// Printable ASCII only, one line: nothing a terminal acts on.
void expect_inert(const std::string& text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    EXPECT_TRUE(byte >= 0x20 && byte < 0x7f) << "byte " << int(byte) << " in: " << text;
  }
}

TEST(Timeline, AgentChosenTextStaysOnItsLineAndInert) {
  const nlohmann::json rename = {{"ts", "2026-12-05T10:00:00.000000Z"},
                                 {"kind", "file"},
                                 {"op", "rename"},
                                 {"path", "/output/" + kForged},
                                 {"path2", "/output/b" + kForged},
                                 {"outcome", "allowed"},
                                 {"level", "write"},
                                 {"rule", "output/** -> write"}};
  const std::string line = format_event(rename);
  expect_inert(line);
  EXPECT_NE(line.find("\"/output/x\\033[1A\\033[2K\\342\\200\\256elif\\n10:00"), std::string::npos)
      << line;  // quoted as git quotes paths, as the change review shows them
  const nlohmann::json exec = {{"ts", "2026-12-05T10:00:01.000000Z"},
                               {"kind", "security"},
                               {"op", "exec"},
                               {"outcome", "allowed"},
                               {"command", "touch '" + kForged + "'"},
                               {"workdir", "/workspace"},
                               {"limits", {{"note", kForged}}}};
  const std::string command = format_event(exec);
  expect_inert(command);
  EXPECT_NE(command.find("command=touch 'x\\x1b[1A"), std::string::npos) << command;
}

TEST(Timeline, PlainPathsAndCommandsReadAsBefore) {
  const nlohmann::json open = {{"ts", "2026-12-05T10:00:00.000000Z"},
                               {"kind", "file"},
                               {"op", "open_read"},
                               {"path", "/src/app.py"},
                               {"outcome", "allowed"},
                               {"count", 3}};
  EXPECT_EQ(format_event(open), "10:00:00.000000Z allowed file      open_read     /src/app.py  x3");
}

TEST(Timeline, TheSummaryQuotesPathsAndEscapesCommandsToo) {
  Summary summary;
  summary.add({{"ts", "2026-12-05T10:00:00.000000Z"},
               {"kind", "file"},
               {"op", "create"},
               {"path", "/output/" + kForged},
               {"outcome", "allowed"},
               {"count", 1}});
  summary.add({{"kind", "security"}, {"op", "exec"}, {"command", kForged}, {"exit_code", 0}});
  const std::string text = summary.to_text();
  std::size_t lines = 0;
  for (std::size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos;
       start = end + 1, ++lines) {
    expect_inert(text.substr(start, end - start));
  }
  // The header, three section titles, one written path, the commands title and one command.
  EXPECT_EQ(lines, 7u) << text;
}

// A name that is not UTF-8 was written with U+FFFD for its bad bytes: "b\377" and
// "b\376" read as one file. It is written quoted (as the API carries it) and shown as
// the change review shows it.
TEST(Timeline, NamesThatAreNotUtf8StayDistinct) {
  Event first;
  first.op = "create";
  first.path = "/output/b\xff";
  Event second = first;
  second.path = "/output/b\xfe";
  second.path2 = "/output/c\xfd";
  const nlohmann::json a = to_fields(first), b = to_fields(second);
  EXPECT_EQ(a["path"], "\"/output/b\\377\"");
  EXPECT_EQ(b["path"], "\"/output/b\\376\"");
  EXPECT_EQ(b["path2"], "\"/output/c\\375\"");
  nlohmann::json line = b;
  line["ts"] = "2026-12-05T10:00:00.000000Z";
  line["outcome"] = "allowed";
  const std::string shown = format_event(line);
  EXPECT_NE(shown.find("\"/output/b\\376\" -> \"/output/c\\375\""), std::string::npos) << shown;
  Filter only_b;
  only_b.path = "/output/b\xfe";
  EXPECT_TRUE(only_b.matches(line));
  EXPECT_FALSE(only_b.matches(a));
  // UTF-8 names are written as they are.
  first.path = "/output/caf\xc3\xa9";
  EXPECT_EQ(to_fields(first)["path"], "/output/caf\xc3\xa9");
}

TEST(Timeline, SinceIsARealTimeInTheTrailsForm) {
  EXPECT_EQ(normalise_rfc3339("2026-12-04T19:35:14Z"), "2026-12-04T19:35:14.000000Z");
  EXPECT_EQ(normalise_rfc3339("2028-02-29T00:00:00.5Z"), "2028-02-29T00:00:00.500000Z");
  for (const char* impossible :
       {"2026-02-31T00:00:00Z", "2026-02-29T00:00:00Z", "2026-12-04T24:00:00Z",
        "2026-12-04T23:60:00Z", "2026-12-04T23:59:60Z", "2026-00-10T00:00:00Z"})
    EXPECT_EQ(normalise_rfc3339(impossible), std::nullopt) << impossible;
}

// Each filter that could never match names its field; what can match is put in the
// trail's form.
TEST(Timeline, FiltersThatCouldNeverMatchAreRefused) {
  const auto field_of = [](Filter filter) {
    try {
      filter.validate();
    } catch (const FilterError& error) {
      return error.field();
    }
    return std::string("accepted");
  };
  EXPECT_EQ(field_of({.op = "open-read"}), "op");
  EXPECT_EQ(field_of({.path = "/**"}), "path");
  EXPECT_EQ(field_of({.path = "/src/?.py"}), "path");
  EXPECT_EQ(field_of({.path = "/src/../.env"}), "path");
  EXPECT_EQ(field_of({.path = "src"}), "path");
  EXPECT_EQ(field_of({.path = "\"/bad\\9\""}), "path");
  EXPECT_EQ(field_of({.since = "2026-02-31T25:61:61Z"}), "since");
  for (const std::string_view op : kKnownOps)
    EXPECT_EQ(field_of({.op = std::string(op)}), "accepted");
  Filter quoted{.path = "\"/output/b\\377\""};
  quoted.validate();
  EXPECT_EQ(quoted.path, "/output/b\xff");
  Filter root{.path = "/"};
  root.validate();
  EXPECT_EQ(root.path, "/");
}

}  // namespace
}  // namespace agentfense::audit
