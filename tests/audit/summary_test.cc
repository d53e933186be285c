// The summary's lists stay bounded whatever the trail holds, and say what they left out.
#include "audit/summary.h"

#include <gtest/gtest.h>

namespace agentfense::audit {
namespace {

nlohmann::json file_event(const std::string& op, const std::string& path,
                          const std::string& outcome = "allowed") {
  return {{"ts", "2026-12-05T13:00:00.000000Z"},
          {"kind", "file"},
          {"op", op},
          {"path", path},
          {"outcome", outcome},
          {"count", 1}};
}

TEST(Summary, ListsPathsWithTheirOpsAndCounts) {
  Summary summary;
  summary.add(file_event("open_read", "/a"));
  summary.add(file_event("open_read", "/a"));
  summary.add(file_event("create", "/b"));
  summary.add(file_event("open", "/secret", "denied"));
  summary.add({{"kind", "security"}, {"op", "exec"}, {"command", "true"}, {"exit_code", 0}});
  const auto json = summary.to_json();
  EXPECT_EQ(json["events"], 5);
  EXPECT_EQ(json["files_read"][0]["path"], "/a");
  EXPECT_EQ(json["files_read"][0]["count"], 2);
  EXPECT_EQ(json["files_written"][0]["ops"][0], "create");
  EXPECT_EQ(json["denied"][0]["path"], "/secret");
  EXPECT_EQ(json["commands"][0]["command"], "true");
  EXPECT_EQ(json["files_read_omitted"], 0);
  EXPECT_EQ(json["commands_omitted"], 0);
}

// A trail of an agent that read 30,000 files listed all of them, and one with long paths
// held them all in memory and in one reply.
TEST(Summary, EachListKeepsItsFirstPathsAndCountsTheRest) {
  Summary summary;
  for (int i = 0; i < 30000; ++i) summary.add(file_event("open_read", "/f" + std::to_string(i)));
  summary.add(file_event("open_read", "/f0"));  // a listed path still counts
  const std::string deep(4000, 'd');
  for (int i = 0; i < 2000; ++i) summary.add(file_event("create", "/" + deep + std::to_string(i)));
  for (std::size_t i = 0; i < Summary::kMaxListedCommands + 5; ++i) {
    summary.add({{"kind", "security"}, {"op", "exec"}, {"command", "true"}});
  }
  const auto json = summary.to_json();
  EXPECT_EQ(json["files_read"].size(), Summary::kMaxListedPaths);
  EXPECT_EQ(json["files_read_omitted"], 30000 - Summary::kMaxListedPaths);
  EXPECT_EQ(json["files_read"][0]["count"], 2);
  EXPECT_EQ(json["files_written"].size(), Summary::kMaxListedPathBytes / 4005);
  EXPECT_EQ(json["files_written_omitted"], 2000 - Summary::kMaxListedPathBytes / 4005);
  EXPECT_EQ(json["commands"].size(), Summary::kMaxListedCommands);
  EXPECT_EQ(json["commands_omitted"], 5);
  const std::string text = summary.to_text();
  EXPECT_NE(text.find("... and 10000 events on further paths, not listed"), std::string::npos);
  EXPECT_NE(text.find("... and 5 further commands, not listed"), std::string::npos);
}

// 530 commands of 128 KiB made a 69.5 MB summary: larger than any gRPC reply may be, so
// the sandbox's summary could never be fetched again. Each listed command now keeps its
// first 1 KiB (cut on a character boundary, with its full length), and the list its first
// 2 MiB of command text.
TEST(Summary, LongCommandsAreCutAndTheListIsBoundedInBytes) {
  Summary summary;
  const std::string long_command = "echo " + std::string(131066, 'A');
  for (int i = 0; i < 5000; ++i) {
    summary.add({{"kind", "security"}, {"op", "session_exec"}, {"command", long_command}});
  }
  summary.add({{"kind", "security"}, {"op", "exec"}, {"command", "true"}});
  const auto json = summary.to_json();
  const std::size_t listed = Summary::kMaxListedCommandBytes / Summary::kMaxCommandTextBytes;
  ASSERT_EQ(json["commands"].size(), listed);  // exactly full: "true" no longer fits
  EXPECT_EQ(json["commands_omitted"], 5001 - listed);
  EXPECT_EQ(json["commands"][0]["command"], long_command.substr(0, Summary::kMaxCommandTextBytes));
  EXPECT_EQ(json["commands"][0]["command_bytes"], long_command.size());
  EXPECT_LT(json.dump().size(), std::size_t{3} << 20);
  EXPECT_NE(summary.to_text().find(" ... (cut, 131071 bytes in all)"), std::string::npos);
}

TEST(Summary, ACutCommandEndsOnACharacterBoundary) {
  Summary summary;
  const std::string euro = "\xe2\x82\xac";  // 3 bytes: 1024 is not a multiple of 3
  std::string command;
  while (command.size() < 2000) command += euro;
  summary.add({{"kind", "security"}, {"op", "exec"}, {"command", command}});
  const auto json = summary.to_json();
  const std::string kept = json["commands"][0]["command"];
  EXPECT_EQ(kept.size(), 1023u);
  EXPECT_EQ(kept, command.substr(0, 1023));
  EXPECT_NO_THROW(static_cast<void>(json.dump()));
}

}  // namespace
}  // namespace agentfense::audit
