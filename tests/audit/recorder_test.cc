// The recorder's promises: coalescing per command, acknowledged means on disk, a full
// queue drops (and says how many) instead of blocking, and memory stays bounded however
// long the paths an agent makes.
#include "audit/recorder.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
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

TEST(Recorder, TheSameEventOfTwoCommandsIsCountedOnEachCommandsLine) {
  // Two commands at once: a refused open of one was counted on the other's line, since
  // a repeat keeps the first event's command.
  const std::string path = temp_path();
  std::filesystem::remove(path);
  Recorder recorder(path, "sb_1");
  recorder.begin_command("c1");
  for (const char* command : {"c1", "c2", "c2", "c1"}) {
    Event event = read_of("/a");
    event.command = command;
    recorder.record(event);
  }
  ASSERT_TRUE(recorder.end_command("c1"));
  std::map<std::string, int> counted;
  for (const auto& event : events_in(path)) counted[event["cmd"]] += event["count"].get<int>();
  EXPECT_EQ(counted, (std::map<std::string, int>{{"c1", 2}, {"c2", 2}}));
  std::filesystem::remove(path);
}

// A ReadSandboxFile (its own command) during an agent's long command: once it ended,
// the rest of the agent's events were tagged with no command at all.
TEST(Recorder, WhenTheLatestCommandEndsAnEarlierOneStillRunningIsTaggedAgain) {
  const std::string path = temp_path();
  std::filesystem::remove(path);
  Recorder recorder(path, "sb_1");
  recorder.begin_command("c1");
  recorder.record(read_of("/a"));
  recorder.begin_command("c2");
  recorder.record(read_of("/b"));
  ASSERT_TRUE(recorder.end_command("c2"));
  recorder.record(read_of("/c"));
  ASSERT_TRUE(recorder.end_command("c1"));
  recorder.record(read_of("/d"));
  ASSERT_TRUE(recorder.sync());
  const auto events = events_in(path);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0]["cmd"], "c1");
  EXPECT_EQ(events[1]["cmd"], "c2");
  EXPECT_EQ(events[2]["cmd"], "c1");
  EXPECT_FALSE(events[3].contains("cmd") && events[3]["cmd"].is_string()) << events[3];
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

// Events with long paths fill the queue's bytes before its count.
TEST(Recorder, AQueueFullOfLongPathsDropsToo) {
  const std::string path = temp_path();
  std::filesystem::remove(path);
  {
    Recorder recorder(path, "sb_1", Recorder::kDefaultCapacity, /*queued_bytes=*/64 << 10);
    for (int i = 0; i < 1000; ++i) {
      recorder.record(read_of("/" + std::string(4000, 'd') + "/f" + std::to_string(i)));
    }
    EXPECT_GE(recorder.dropped_total(), 1000u - (64u << 10) / 4000u);
    ASSERT_TRUE(recorder.sync());
  }
  std::uint64_t dropped = 0, kept = 0;
  for (const auto& event : events_in(path)) {
    if (event["op"] == "events_dropped") {
      dropped += event["count"].get<std::uint64_t>();
    } else {
      ++kept;
    }
  }
  EXPECT_EQ(dropped + kept, 1000u);
  EXPECT_LE(kept, (64u << 10) / 4000u);
  std::filesystem::remove(path);
}

// An agent making and deleting long-named files wrote 37 MB/s into its trail. Past
// max_trail_bytes its file events are counted, not written, and every one is accounted
// for by the time a command is acknowledged.
TEST(Recorder, AFullTrailCountsFileEventsInsteadOfWritingThem) {
  const std::string path = temp_path();
  std::filesystem::remove(path);
  constexpr std::uint64_t kLimit = 64 << 10;
  {
    Recorder recorder(path, "sb_1", Recorder::kDefaultCapacity, Recorder::kMaxQueuedBytes, kLimit);
    for (int round = 0; round < 20; ++round) {
      const std::string command = "c" + std::to_string(round);
      recorder.begin_command(command);
      for (int i = 0; i < 50; ++i) {
        recorder.record(read_of("/" + std::string(1000, 'd') + "/f" + std::to_string(i)));
        recorder.record(read_of("/" + std::string(1000, 'd') + "/f" + std::to_string(i)));
      }
      ASSERT_TRUE(recorder.end_command(command));
    }
  }
  std::uint64_t dropped = 0, kept = 0;
  for (const auto& event : events_in(path)) {
    if (event["op"] == "events_dropped") {
      EXPECT_NE(event["why"].get<std::string>().find("audit.max_sandbox_bytes"), std::string::npos)
          << event;
      dropped += event["count"].get<std::uint64_t>();
    } else {
      kept += event["count"].get<std::uint64_t>();
    }
  }
  EXPECT_EQ(dropped + kept, 2000u) << "every event written or counted";
  EXPECT_GT(dropped, 0u);
  // At most one command's events (100 lines) beyond the limit, and a notice per command.
  EXPECT_LT(std::filesystem::file_size(path), kLimit + 100 * 1300 + 20 * 400);
  std::filesystem::remove(path);
}

Event denied_lookup_of(const std::string& path) {
  Event event;
  event.op = "lookup";
  event.path = path;
  event.level = "none";
  event.allowed = false;
  event.reason = "hidden";
  return event;
}

// An agent that filled the budget with its own creates then probed hidden paths: only a
// count of 3 was left. Denied events are still written within a reserve of a tenth of
// the budget; past it they are counted, and the notice says how many were denied.
TEST(Recorder, AFullTrailStillWritesDeniedEventsWithinItsReserve) {
  const std::string path = temp_path();
  std::filesystem::remove(path);
  constexpr std::uint64_t kLimit = 64 << 10;
  constexpr int kProbes = 200;
  std::uintmax_t filled = 0;
  {
    Recorder recorder(path, "sb_1", Recorder::kDefaultCapacity, Recorder::kMaxQueuedBytes, kLimit);
    // One pass of the agent's own events overshoots the budget by more than the reserve.
    recorder.begin_command("c1");
    for (int i = 0; i < 100; ++i)
      recorder.record(read_of("/" + std::string(1000, 'f') + "/" + std::to_string(i)));
    ASSERT_TRUE(recorder.end_command("c1"));
    filled = std::filesystem::file_size(path);
    ASSERT_GE(filled, kLimit + kLimit / 10);
    recorder.begin_command("c2");
    for (int i = 0; i < 10; ++i) recorder.record(read_of("/allowed" + std::to_string(i)));
    recorder.record(denied_lookup_of("/.env"));
    recorder.record(denied_lookup_of("/.env"));
    recorder.record(denied_lookup_of("/config/secrets/db.txt"));
    ASSERT_TRUE(recorder.end_command("c2"));
    const auto events = events_in(path);
    std::vector<std::string> denied;
    for (const auto& event : events)
      if (event.value("outcome", "") == "denied") denied.push_back(event["path"]);
    EXPECT_EQ(denied, (std::vector<std::string>{"/.env", "/config/secrets/db.txt", "/.env"}));
    // Past the reserve too: counted, as denied.
    recorder.begin_command("c3");
    for (int i = 0; i < kProbes; ++i)
      recorder.record(denied_lookup_of("/" + std::string(1000, 'h') + "/" + std::to_string(i)));
    ASSERT_TRUE(recorder.end_command("c3"));
  }
  std::uint64_t denied_written = 0, denied_dropped = 0, allowed_dropped = 0;
  for (const auto& event : events_in(path)) {
    if (event["op"] == "events_dropped") {
      const std::uint64_t denied = event.value("denied_dropped", std::uint64_t{0});
      denied_dropped += denied;
      allowed_dropped += event["count"].get<std::uint64_t>() - denied;
    } else if (event.value("cmd", "") == "c3") {
      ++denied_written;
    }
  }
  EXPECT_EQ(allowed_dropped, 10u);
  EXPECT_GT(denied_written, 0u);
  EXPECT_GT(denied_dropped, 0u);
  EXPECT_EQ(denied_written + denied_dropped, std::uint64_t{kProbes});
  // The reserve, plus the notices and c2's repeat line.
  EXPECT_LT(std::filesystem::file_size(path), filled + kLimit / 10 + 2000);
  std::filesystem::remove(path);
}

// A command's coalescing state keeps every distinct event it saw (to count repeats of
// it): with an agent's 6,000-byte paths, 5,000 of them held 60 MB before the state was
// bounded in bytes. Each event is still written once, the first time it is seen.
TEST(Recorder, ACommandsCoalescingStateIsBoundedInBytes) {
  const std::string path = temp_path();
  std::filesystem::remove(path);
  Recorder recorder(path, "sb_1");
  const std::string deep = "/" + std::string(6000, 'd');
  const size_t before = mallinfo2().uordblks;
  recorder.begin_command("c1");
  for (int i = 0; i < 5000; ++i) {
    recorder.record(read_of(deep + "/f" + std::to_string(i)));
    if (i % 1000 == 999) {
      ASSERT_TRUE(recorder.sync());  // the queue drains, the coalescing state stays
    }
  }
  ASSERT_TRUE(recorder.sync());
  const size_t after = mallinfo2().uordblks;
  EXPECT_LT(after - std::min(before, after), Recorder::kMaxPendingBytes + (8u << 20));
  recorder.record(read_of(deep + "/f4999"));  // a repeat of one still counted
  ASSERT_TRUE(recorder.end_command("c1"));
  EXPECT_EQ(recorder.dropped_total(), 0u);
  const auto events = events_in(path);
  ASSERT_EQ(events.size(), 5001u);
  EXPECT_EQ(events[4999]["path"], deep + "/f4999");
  EXPECT_EQ(events[5000]["path"], deep + "/f4999");
  EXPECT_EQ(events[5000]["count"], 1);
  EXPECT_EQ(events[5000]["repeat"], true);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace agentfense::audit
