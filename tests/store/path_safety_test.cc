// Client paths must never reach outside the codebase: lexical escapes and host symlinks.
#include "store_test_util.h"

namespace agentfense::store::testing {
namespace {

class PathSafetyTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    codebase_ = store_->create("safe", "alice");
    outside_ = root_ / "outside";
    write_file(outside_ / "victim.txt", "untouched");
    fs::create_directory_symlink(outside_, files(codebase_) / "link");     // as a parent
    fs::create_symlink(outside_ / "victim.txt", files(codebase_) / "pw");  // as the target
    fs::create_directory_symlink("/etc", files(codebase_) / "etc");
  }
  void expect_invalid_path(const std::function<void()>& body, const std::string& named) {
    const ApiError error = api_error_of(body);
    EXPECT_EQ(error.code(), StatusCode::INVALID_ARGUMENT) << named;
    EXPECT_EQ(error.reason(), kReasonInvalidPath) << named;
    EXPECT_NE(std::string(error.what()).find(named), std::string::npos) << error.what();
  }
  void expect_unchanged() {
    EXPECT_EQ(read_file(outside_ / "victim.txt"), "untouched");
    EXPECT_EQ(std::distance(fs::directory_iterator(outside_), {}), 1);
    EXPECT_TRUE(fs::is_symlink(files(codebase_) / "pw"));
  }
  v1::Codebase codebase_;
  fs::path outside_;
};

// The API's names are UTF-8 (proto3 strings): other bytes are refused, and the message
// shows them escaped rather than raw or replaced.
TEST_F(PathSafetyTest, NamesThatAreNotUtf8AreRefusedAndShownEscaped) {
  const auto ignore = [](const std::string&) { return true; };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xff.bin", "\\xff.bin"},
      {"dir/caf\xe9.txt", "dir/caf\\xe9.txt"},
      {"\xc0\xaf", "\\xc0\\xaf"},           // overlong "/"
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},  // a UTF-16 surrogate
  };
  for (const auto& [path, shown] : cases) {
    expect_invalid_path([&] { store_->upload(codebase_.id(), path, 0, chunks_of({"x"})); }, shown);
    expect_invalid_path([&] { store_->download(codebase_.id(), path, ignore); }, "UTF-8");
    expect_invalid_path([&] { store_->list_files(codebase_.id(), path, false); }, shown);
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(files(codebase_)), {}), 3);  // the fixture's
}

TEST_F(PathSafetyTest, LexicalEscapesAreRefusedEverywhere) {
  const auto ignore = [](const std::string&) { return true; };
  const std::vector<std::string> paths = {"../x", "/../../etc/passwd",   "a/../../x", "a/..",
                                          "..",   std::string("a\0b", 3)};
  for (const std::string& path : paths) {
    const std::string shown = path.find('\0') == std::string::npos ? path : "a";
    expect_invalid_path([&] { store_->upload(codebase_.id(), path, 0, chunks_of({"x"})); }, shown);
    expect_invalid_path([&] { store_->download(codebase_.id(), path, ignore); }, shown);
    expect_invalid_path([&] { store_->list_files(codebase_.id(), path, true); }, shown);
  }
  EXPECT_FALSE(fs::exists(root_ / "x"));
  EXPECT_FALSE(fs::exists(codebases_ / "x"));
}

TEST_F(PathSafetyTest, EmptyPathNamesNoFile) {
  expect_invalid_path([&] { store_->upload(codebase_.id(), "", 0, chunks_of({"x"})); }, "");
  expect_invalid_path([&] { store_->upload(codebase_.id(), "//", 0, chunks_of({"x"})); }, "//");
}

TEST_F(PathSafetyTest, SymlinkAsParentDirectoryIsRefused) {
  expect_invalid_path(
      [&] { store_->upload(codebase_.id(), "link/victim.txt", 0, chunks_of({"pwned"})); }, "/link");
  expect_invalid_path(
      [&] { store_->upload(codebase_.id(), "link/new/deep.txt", 0, chunks_of({"pwned"})); },
      "/link");
  expect_invalid_path([&] { store_->upload(codebase_.id(), "etc/passwd", 0, chunks_of({"x"})); },
                      "/etc");
  expect_invalid_path(
      [&] {
        store_->download(codebase_.id(), "etc/passwd", [](const std::string&) { return true; });
      },
      "/etc/passwd");
  expect_invalid_path([&] { store_->list_files(codebase_.id(), "link", false); }, "/link");
  expect_invalid_path([&] { store_->upload_archive(codebase_.id(), "link", chunks_of({})); },
                      "/link");
  expect_unchanged();
}

TEST_F(PathSafetyTest, SymlinkAsTargetFileIsRefused) {
  expect_invalid_path([&] { store_->upload(codebase_.id(), "/pw", 0, chunks_of({"pwned"})); },
                      "/pw");
  std::string got;
  expect_invalid_path(
      [&] {
        store_->download(codebase_.id(), "pw", [&](const std::string& chunk) {
          got += chunk;
          return true;
        });
      },
      "/pw");
  EXPECT_EQ(got, "");
  expect_unchanged();
  EXPECT_EQ(store_->get(codebase_.id()).size(), 0);
}

TEST_F(PathSafetyTest, FileUsedAsDirectoryIsRefused) {
  store_->upload(codebase_.id(), "plain", 0, chunks_of({"x"}));
  expect_invalid_path([&] { store_->upload(codebase_.id(), "plain/x", 0, chunks_of({"y"})); },
                      "/plain");
}

TEST_F(PathSafetyTest, SlashesAndDotsNormalize) {
  store_->upload(codebase_.id(), "a//b/./c.txt", 0, chunks_of({"ok"}));
  std::string got;
  store_->download(codebase_.id(), "/a/b/c.txt", [&](const std::string& chunk) {
    got += chunk;
    return true;
  });
  EXPECT_EQ(got, "ok");
}

}  // namespace
}  // namespace agentfense::store::testing
