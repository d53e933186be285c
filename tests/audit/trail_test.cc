// The trail file format and its chain: what verify accepts and what it catches.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "audit/chain.h"
#include "audit/trail_file.h"
#include "audit/verify.h"

namespace agentfense::audit {
namespace {

std::string temp_path() {
  return (std::filesystem::temp_directory_path() /
          ("af-trail-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name()))
      .string();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

VerifyResult verify_text(const std::string& text) {
  std::istringstream in(text);
  return verify(in);
}

Event file_event(const std::string& path) {
  Event event;
  event.op = "open_read";
  event.path = path;
  event.level = "read";
  event.rule = "** -> read (priority 0, glob)";
  return event;
}

TEST(Trail, TwoWritersContinueOneChain) {
  const std::string path = temp_path();
  std::filesystem::remove(path);
  TrailFile a(path, "sb_1"), b(path, "sb_1");
  const Event one[] = {file_event("/a")};
  const Event two[] = {file_event("/b"), file_event("/c")};
  a.append(one);
  b.append(two);
  a.append(one);
  const VerifyResult result = verify_text(read_all(path));
  EXPECT_TRUE(result.ok) << result.problem << " at " << result.bad_line;
  EXPECT_EQ(result.lines, 4u);
  std::filesystem::remove(path);
}

TEST(Trail, LineLayoutIsTheDocumentedOne) {
  const std::string path = temp_path();
  std::filesystem::remove(path);
  TrailFile trail(path, "sb_1");
  Event denied = file_event("/.env");
  denied.op = "lookup";
  denied.allowed = false;
  denied.error = ENOENT;
  denied.reason = "hidden";
  const Event events[] = {denied};
  trail.append(events);
  const std::string line = read_all(path);
  EXPECT_NE(line.find("\"kind\":\"file\",\"op\":\"lookup\",\"path\":\"/.env\",\"level\":\"read\","
                      "\"rule\":\"** -> read (priority 0, glob)\",\"outcome\":\"denied\","
                      "\"errno\":\"ENOENT\",\"reason\":\"hidden\",\"count\":1,\"prev\":\"" +
                      std::string(kGenesis) + "\",\"hash\":\""),
            std::string::npos)
      << line;
  EXPECT_TRUE(line.starts_with("{\"v\":1,\"seq\":1,\"ts\":\"")) << line;
  std::filesystem::remove(path);
}

TEST(Trail, VerifyCatchesEditsRemovalsAndReordering) {
  const std::string path = temp_path();
  std::filesystem::remove(path);
  TrailFile trail(path, "sb_1");
  const Event events[] = {file_event("/a"), file_event("/b"), file_event("/c")};
  trail.append(events);
  const std::string text = read_all(path);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line + "\n");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(verify_text(text).ok);

  std::string edited = lines[1];
  edited[edited.find("/b")] = '!';
  EXPECT_EQ(verify_text(lines[0] + edited + lines[2]).bad_line, 2u);
  EXPECT_EQ(verify_text(lines[0] + lines[2]).bad_line, 2u);
  EXPECT_EQ(verify_text(lines[1] + lines[2]).bad_line, 1u);
  EXPECT_EQ(verify_text(lines[0] + lines[2] + lines[1]).bad_line, 2u);
  EXPECT_FALSE(verify_text(text.substr(0, text.size() - 1)).ok);  // no final newline
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace agentfense::audit
