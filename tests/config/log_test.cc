// The structured logger, captured through a real memfd standing in for stderr.
#include "common/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ctime>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/unique_fd.h"

namespace agentfense::log {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    capture_ = UniqueFd(::memfd_create("af-log-test", MFD_CLOEXEC));
    ASSERT_TRUE(capture_.valid());
    set_output_fd(capture_.get());
    configure(Level::kDebug, Format::kText);
  }
  void TearDown() override {
    set_output_fd(STDERR_FILENO);
    configure(Level::kInfo, Format::kText);
  }

  std::string captured() const {
    std::string text;
    char buffer[65536];
    for (off_t offset = 0;;) {
      const ssize_t got = ::pread(capture_.get(), buffer, sizeof buffer, offset);
      EXPECT_GE(got, 0);
      if (got <= 0) return text;
      text.append(buffer, static_cast<size_t>(got));
      offset += got;
    }
  }

  std::vector<std::string> captured_lines() const {
    std::vector<std::string> lines;
    std::istringstream in(captured());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  UniqueFd capture_;
};

const std::string kTimestamp = R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)";

// Seconds between the line's timestamp and now.
double age_of(const std::string& timestamp) {
  std::tm parsed{};
  EXPECT_NE(::strptime(timestamp.c_str(), "%Y-%m-%dT%H:%M:%S", &parsed), nullptr) << timestamp;
  return std::difftime(std::time(nullptr), ::timegm(&parsed));
}

TEST_F(LogTest, TextLineHasTimestampLevelEventAndFieldsInOrder) {
  info("sandbox.started", {{"sandbox_id", "sb_1"}, {"ms", 12}});
  const std::string text = captured();
  EXPECT_TRUE(std::regex_match(
      text, std::regex(kTimestamp + " INFO sandbox.started sandbox_id=sb_1 ms=12\n")))
      << text;
  EXPECT_LE(std::abs(age_of(text.substr(0, 19))), 5.0);
}

TEST_F(LogTest, TextQuotesValuesThatWouldBreakKeyValueSplitting) {
  warn("exec.failed", {{"cmd", "ls -la"},
                       {"empty", ""},
                       {"eq", "a=b"},
                       {"quote", "say \"hi\""},
                       {"nl", "a\nb"},
                       {"ok", true},
                       {"none", nullptr},
                       {"list", {1, 2}}});
  const std::vector<std::string> lines = captured_lines();
  ASSERT_EQ(lines.size(), 1u);  // the embedded newline was escaped, not written
  EXPECT_EQ(lines[0].substr(25),
            R"(WARN exec.failed cmd="ls -la" empty="" eq="a=b" quote="say \"hi\"" nl="a\nb" )"
            R"(ok=true none=null list=[1,2])");
}

TEST_F(LogTest, JsonLineIsOneObjectWithTheEnvelopeFirst) {
  configure(Level::kDebug, Format::kJson);
  error("fs.crashed", {{"sandbox_id", "sb_2"}, {"signal", 9}, {"level", "shadowed"}});
  const std::vector<std::string> lines = captured_lines();
  ASSERT_EQ(lines.size(), 1u);
  const Fields entry = Fields::parse(lines[0]);
  std::vector<std::string> keys;
  for (const auto& [key, value] : entry.items()) keys.push_back(key);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"ts", "level", "event", "sandbox_id", "signal", "_level"}));
  EXPECT_TRUE(std::regex_match(entry["ts"].get<std::string>(), std::regex(kTimestamp)));
  EXPECT_EQ(entry["level"], "error");
  EXPECT_EQ(entry["event"], "fs.crashed");
  EXPECT_EQ(entry["signal"], 9);
  EXPECT_EQ(entry["_level"], "shadowed");  // a field never overwrites the envelope
}

TEST_F(LogTest, PlainJsonObjectsAndNoFieldsAreAccepted) {
  nlohmann::json fields = {{"path", "/workspace"}};
  info("a", fields);
  info("b");
  const std::vector<std::string> lines = captured_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].substr(25), "INFO a path=/workspace");
  EXPECT_EQ(lines[1].substr(25), "INFO b");
}

TEST_F(LogTest, InvalidUtf8IsReplacedNotThrown) {
  configure(Level::kDebug, Format::kJson);
  EXPECT_NO_THROW(info("file.read", {{"path", std::string("bad\xff\xfe")}}));
  const std::vector<std::string> lines = captured_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Fields::parse(lines[0])["path"], "bad\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_F(LogTest, LevelFilteringDropsLowerLevels) {
  configure(Level::kWarn, Format::kText);
  EXPECT_FALSE(enabled(Level::kInfo));
  EXPECT_TRUE(enabled(Level::kError));
  debug("d");
  info("i");
  warn("w");
  error("e");
  const std::vector<std::string> lines = captured_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].substr(25), "WARN w");
  EXPECT_EQ(lines[1].substr(25), "ERROR e");
}

TEST_F(LogTest, ConcurrentLinesNeverInterleave) {
  // A pipe, like stderr under a supervisor: a write(2) larger than PIPE_BUF is not atomic
  // there, so whole lines survive only if the logger serialises its writers.
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
  UniqueFd read_end(ends[0]);
  UniqueFd write_end(ends[1]);
  std::string received;
  std::thread reader([&read_end, &received] {
    char buffer[65536];
    ssize_t got;
    while ((got = ::read(read_end.get(), buffer, sizeof buffer)) > 0)
      received.append(buffer, static_cast<size_t>(got));
  });
  set_output_fd(write_end.get());
  constexpr int kThreads = 4;
  constexpr int kLinesEach = 300;
  const std::string payload(3 * PIPE_BUF, 'x');
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([t, &payload] {
      for (int i = 0; i < kLinesEach; ++i)
        info("burst", {{"thread", t}, {"i", i}, {"payload", payload}});
    });
  }
  for (std::thread& writer : writers) writer.join();
  set_output_fd(capture_.get());
  write_end.reset();
  reader.join();

  std::istringstream in(received);
  const std::regex shape(kTimestamp + " INFO burst thread=\\d i=\\d+ payload=x{" +
                         std::to_string(payload.size()) + "}");
  int count = 0;
  for (std::string line; std::getline(in, line); ++count)
    ASSERT_TRUE(std::regex_match(line, shape)) << line.substr(0, 80);
  EXPECT_EQ(count, kThreads * kLinesEach);
}

TEST(LogNames, ParseAndPrintRoundTrip) {
  for (const Level level : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError})
    EXPECT_EQ(parse_level(to_string(level)), level);
  for (const Format format : {Format::kText, Format::kJson})
    EXPECT_EQ(parse_format(to_string(format)), format);
  EXPECT_FALSE(parse_level("INFO"));
  EXPECT_FALSE(parse_format("logfmt"));
}

}  // namespace
}  // namespace agentfense::log
