// The recorder's promises: coalescing per command, acknowledged means on disk, and a full
// queue drops (and says how many) instead of blocking.
#include "audit/recorder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace agentfense::audit {
namespace {

std::string temp_path() {
  return (std::filesystem::temp_directory_path() /
          ("af-recorder-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name()))
      .string();
}

std::vector<nlohmann::json> events_in(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

Event read_of(const std::string& path) {
  Event event;
  event.op = "open_read";
  event.path = path;
  event.level = "read";
  return event;
}

TEST(Recorder, RepeatsInACommandBecomeOneCountedLineAtItsEnd) {
  const std::string path = temp_path();
  std::filesystem::remove(path);
  Recorder recorder(path, "sb_1");
  recorder.begin_command("c1");
  for (int i = 0; i < 5; ++i) recorder.record(read_of("/a"));
  recorder.record(read_of("/b"));
  ASSERT_TRUE(recorder.end_command("c1"));
  // Acknowledged: on disk when end_command returns.
  const auto events = events_in(path);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]["path"], "/a");
  EXPECT_EQ(events[0]["count"], 1);
  EXPECT_EQ(events[0]["cmd"], "c1");
  EXPECT_EQ(events[1]["path"], "/b");
  EXPECT_EQ(events[2]["path"], "/a");
  EXPECT_EQ(events[2]["count"], 4);
  EXPECT_EQ(events[2]["repeat"], true);
  // A new command starts counting afresh.
  recorder.begin_command("c2");
  recorder.record(read_of("/a"));
  ASSERT_TRUE(recorder.end_command("c2"));
  const auto after = events_in(path);
  ASSERT_EQ(after.size(), 4u);
  EXPECT_EQ(after[3]["cmd"], "c2");
  EXPECT_EQ(after[3].contains("repeat"), false);
  std::filesystem::remove(path);
}

TEST(Recorder, AFullQueueDropsCountsAndSaysSo) {
  const std::string path = temp_path();
  std::filesystem::remove(path);
  {
    Recorder recorder(path, "sb_1", /*capacity=*/4);
    // Faster than the 200 ms writer pass: the queue fills, record() never waits.
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) recorder.record(read_of("/f" + std::to_string(i)));
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
    EXPECT_GE(recorder.dropped_total(), 996u - 4u);
    ASSERT_TRUE(recorder.sync());
  }
  const auto events = events_in(path);
  std::uint64_t dropped = 0, kept = 0;
  for (const auto& event : events) {
    if (event["op"] == "events_dropped") {
      EXPECT_EQ(event["kind"], "audit");
      dropped += event["count"].get<std::uint64_t>();
    } else {
      ++kept;
    }
  }
  EXPECT_EQ(dropped + kept, 1000u);
  EXPECT_GT(dropped, 0u);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace agentfense::audit
