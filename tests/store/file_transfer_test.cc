#include "layer/tree_bytes.h"
#include "store_test_util.h"

namespace agentfense::store::testing {
namespace {

constexpr const char* kHelloWorldSha256 =
    "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

class FileTransferTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    codebase_ = store_->create("files", "alice");
  }
  v1::Codebase current() { return store_->get(codebase_.id()); }
  size_t entries_in(const fs::path& dir) {
    return static_cast<size_t>(std::distance(fs::directory_iterator(dir), {}));
  }
  v1::Codebase codebase_;
};

TEST_F(FileTransferTest, ChunkedUploadIsHashedAndStored) {
  const v1::UploadResult result =
      store_->upload(codebase_.id(), "/docs/hello.txt", 11, chunks_of({"hello", "", " ", "world"}));
  EXPECT_EQ(result.codebase_id(), codebase_.id());
  EXPECT_EQ(result.file_path(), "/docs/hello.txt");
  EXPECT_EQ(result.size(), 11);
  EXPECT_EQ(result.checksum(), kHelloWorldSha256);
  EXPECT_EQ(read_file(files(codebase_) / "docs" / "hello.txt"), "hello world");
  EXPECT_EQ(mode_of(files(codebase_) / "docs" / "hello.txt"), 0644u);
  EXPECT_EQ(mode_of(files(codebase_) / "docs"), 0755u);
  EXPECT_EQ(current().size(), 11);
  EXPECT_EQ(current().file_count(), 1);
  EXPECT_EQ(entries_in(codebases_ / ".staging"), 0u);  // temp files do not linger
}

TEST_F(FileTransferTest, SizeMismatchLeavesNothingBehind) {
  const ApiError error = api_error_of(
      [&] { store_->upload(codebase_.id(), "new/dir/f.txt", 100, chunks_of({"short"})); });
  EXPECT_EQ(error.code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(entries_in(files(codebase_)), 0u);  // not even the parent directories
  EXPECT_EQ(entries_in(codebases_ / ".staging"), 0u);
  EXPECT_EQ(current().size(), 0);
  EXPECT_EQ(current().file_count(), 0);
}

TEST_F(FileTransferTest, FailingStreamLeavesOldContent) {
  store_->upload(codebase_.id(), "f.txt", 0, chunks_of({"old"}));
  int calls = 0;
  const Next<std::string> broken = [&](std::string& out) {
    if (++calls > 2) throw std::runtime_error("client went away");
    out = "new";
    return true;
  };
  EXPECT_THROW(store_->upload(codebase_.id(), "f.txt", 0, broken), std::runtime_error);
  EXPECT_EQ(read_file(files(codebase_) / "f.txt"), "old");
  EXPECT_EQ(entries_in(codebases_ / ".staging"), 0u);
}

// Issue 9: uploads had no limit at all.
class LimitedUploadTest : public FileTransferTest {
 protected:
  void SetUp() override {
    // Above a block (every file is charged at least one: layer/tree_bytes.h).
    limits_.max_upload_bytes = 10000;
    limits_.max_codebase_bytes = 25000;
    FileTransferTest::SetUp();
  }
  void expect_over(const ApiError& error, const std::string& setting) {
    EXPECT_EQ(error.code(), StatusCode::RESOURCE_EXHAUSTED) << error.what();
    EXPECT_EQ(error.reason(), kReasonQuotaExceeded);
    EXPECT_NE(std::string(error.what()).find(setting), std::string::npos) << error.what();
  }
};

TEST_F(LimitedUploadTest, AFileOverTheUploadLimitIsRefusedAsItStreamsAndLeavesNothing) {
  int chunks = 0;
  const Next<std::string> endless = [&](std::string& out) {
    ++chunks;
    out = std::string(100, 'x');
    return true;  // a client that never stops
  };
  expect_over(api_error_of([&] { store_->upload(codebase_.id(), "a/b/big", 0, endless); }),
              "storage.max_upload_bytes (10000 bytes)");
  EXPECT_EQ(chunks, 101);
  // Announced too big: refused before reading anything.
  expect_over(api_error_of([&] { store_->upload(codebase_.id(), "big", 50000, chunks_of({"x"})); }),
              "storage.max_upload_bytes");
  EXPECT_EQ(entries_in(files(codebase_)), 0u);  // not even a/b
  EXPECT_EQ(entries_in(codebases_ / ".staging"), 0u);
  EXPECT_EQ(current().size(), 0);
}

TEST_F(LimitedUploadTest, ACodebaseCannotGrowPastItsLimit) {
  store_->upload(codebase_.id(), "one", 0, chunks_of({std::string(10000, '1')}));
  store_->upload(codebase_.id(), "two", 0, chunks_of({std::string(10000, '2')}));
  expect_over(api_error_of([&] {
                store_->upload(codebase_.id(), "dir/three", 0, chunks_of({std::string(1000, '3')}));
              }),
              "storage.max_codebase_bytes (25000 bytes)");
  EXPECT_FALSE(fs::exists(files(codebase_) / "dir"));
  EXPECT_EQ(current().size(), 20000);
  // Replacing a file counts only the difference.
  store_->upload(codebase_.id(), "two", 0, chunks_of({std::string(10000, 'b')}));
  store_->upload(codebase_.id(), "three", 0, chunks_of({std::string(5000, '3')}));
  EXPECT_EQ(current().size(), 25000);
}

// An upload makes the directories its path names: a path 2,000 levels deep made 2,000
// of them, uncharged. Each one made is charged a block; existing ones are not.
TEST_F(LimitedUploadTest, TheDirectoriesAnUploadMakesAreCharged) {
  const std::int64_t file = layer::kEntryBlockBytes + 100;  // more than a block: its size
  limits_.max_codebase_bytes = 3 * layer::kEntryBlockBytes + file;
  reopen();
  const std::string deep = "d0/d1/d2/";
  expect_over(api_error_of([&] {
                store_->upload(codebase_.id(), deep + "f", 0,
                               chunks_of({std::string(file + 1, 'x')}));
              }),
              "storage.max_codebase_bytes");
  EXPECT_EQ(entries_in(files(codebase_)), 0u);  // no directory made
  store_->upload(codebase_.id(), deep + "f", 0, chunks_of({std::string(file, 'x')}));
  EXPECT_EQ(store_->charged(codebase_.id()), 3 * layer::kEntryBlockBytes + file);
  EXPECT_EQ(current().size(), file);
  // Replacing it makes no directory: it fits again.
  store_->upload(codebase_.id(), deep + "f", 0, chunks_of({std::string(file, 'y')}));
  EXPECT_EQ(store_->charged(codebase_.id()), 3 * layer::kEntryBlockBytes + file);
}

// An empty file is charged a block too (sweep L, B1), by upload as by commit.
TEST_F(LimitedUploadTest, AnEmptyFileIsChargedABlock) {
  limits_.max_codebase_bytes = 2 * layer::kEntryBlockBytes;
  reopen();
  store_->upload(codebase_.id(), "a", 0, chunks_of({}));
  store_->upload(codebase_.id(), "b", 0, chunks_of({}));
  EXPECT_EQ(store_->charged(codebase_.id()), 2 * layer::kEntryBlockBytes);
  expect_over(api_error_of([&] { store_->upload(codebase_.id(), "c", 0, chunks_of({})); }),
              "storage.max_codebase_bytes");
  store_->upload(codebase_.id(), "a", 0, chunks_of({"now with bytes"}));  // replaced: fits
  EXPECT_EQ(store_->charged(codebase_.id()), 2 * layer::kEntryBlockBytes);
}

TEST_F(FileTransferTest, ReplacingAdjustsSizeByDeltaAndKeepsMode) {
  store_->upload(codebase_.id(), "run.sh", 0, chunks_of({"#!/bin/sh\necho long\n"}));
  store_->upload(codebase_.id(), "other", 0, chunks_of({"abc"}));
  fs::permissions(files(codebase_) / "run.sh", static_cast<fs::perms>(0755));
  EXPECT_EQ(current().size(), 23);
  store_->upload(codebase_.id(), "/run.sh", 4, chunks_of({"true"}));
  EXPECT_EQ(current().size(), 7);
  EXPECT_EQ(current().file_count(), 2);
  EXPECT_EQ(mode_of(files(codebase_) / "run.sh"), 0755u);
  EXPECT_EQ(read_file(files(codebase_) / "run.sh"), "true");
}

TEST_F(FileTransferTest, DownloadStreamsIn64KiBChunks) {
  std::string big;
  for (int i = 0; big.size() < 200'000; ++i) big += std::to_string(i) + ",";
  std::vector<std::string> chunks;
  for (size_t pos = 0; pos < big.size(); pos += 7000) chunks.push_back(big.substr(pos, 7000));
  store_->upload(codebase_.id(), "big.csv", static_cast<int64_t>(big.size()), chunks_of(chunks));

  std::vector<size_t> sizes;
  std::string got;
  store_->download(codebase_.id(), "big.csv", [&](const std::string& chunk) {
    sizes.push_back(chunk.size());
    got += chunk;
    return true;
  });
  EXPECT_EQ(got, big);
  ASSERT_EQ(sizes.size(), (big.size() + 65535) / 65536);
  EXPECT_EQ(sizes.front(), 65536u);

  int emitted = 0;
  store_->download(codebase_.id(), "big.csv", [&](const std::string&) { return ++emitted < 1; });
  EXPECT_EQ(emitted, 1);  // stopped as soon as the client went away
}

TEST_F(FileTransferTest, DownloadOfMissingOrDirectoryFails) {
  fs::create_directories(files(codebase_) / "dir");
  const auto ignore = [](const std::string&) { return true; };
  const ApiError missing =
      api_error_of([&] { store_->download(codebase_.id(), "nope.txt", ignore); });
  EXPECT_EQ(missing.code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.reason(), kReasonFileNotFound);
  EXPECT_EQ(api_error_of([&] { store_->download(codebase_.id(), "dir", ignore); }).code(),
            StatusCode::INVALID_ARGUMENT);
  // A fifo must be refused, not block the server on open().
  ASSERT_EQ(::mkfifo((files(codebase_) / "fifo").c_str(), 0644), 0);
  EXPECT_EQ(api_error_of([&] { store_->download(codebase_.id(), "fifo", ignore); }).code(),
            StatusCode::INVALID_ARGUMENT);
}

TEST_F(FileTransferTest, StagingLeftByACrashIsClearedOnStartup) {
  write_file(codebases_ / ".staging" / "stage_dead" / "upload_partial", "half");
  reopen();  // set aside for the trash, removed in the background (trash.h)
  EXPECT_FALSE(fs::exists(codebases_ / ".staging"));
  ASSERT_TRUE(store_->wait_for_removals());
  EXPECT_EQ(entries_in(codebases_ / ".trash"), 0u);
}

TEST_F(FileTransferTest, ListFilesSortedWithPathsFromRoot) {
  write_file(files(codebase_) / "b.txt", "bb");
  write_file(files(codebase_) / "a" / "x.txt", "xxx");
  write_file(files(codebase_) / "a-c", "1");
  fs::create_symlink("/etc", files(codebase_) / "a" / "etc");

  const v1::ListFilesResponse top = store_->list_files(codebase_.id(), "", false);
  std::vector<std::string> paths;
  for (const v1::FileInfo& info : top.files()) paths.push_back(info.path());
  EXPECT_EQ(paths, (std::vector<std::string>{"/a", "/a-c", "/b.txt"}));
  EXPECT_TRUE(top.files(0).is_dir());
  EXPECT_EQ(top.files(2).size(), 2);
  EXPECT_EQ(top.files(2).name(), "b.txt");
  EXPECT_GT(top.files(2).modified_at().seconds(), 0);

  paths.clear();
  const v1::ListFilesResponse all = store_->list_files(codebase_.id(), "/", true);
  for (const v1::FileInfo& info : all.files()) {
    paths.push_back(info.path());
  }
  // The symlink is listed, never descended into.
  EXPECT_EQ(paths, (std::vector<std::string>{"/a", "/a-c", "/a/etc", "/a/x.txt", "/b.txt"}));

  const v1::ListFilesResponse sub = store_->list_files(codebase_.id(), "a/", false);
  ASSERT_EQ(sub.files_size(), 2);
  EXPECT_EQ(sub.files(1).path(), "/a/x.txt");
  EXPECT_EQ(api_error_of([&] { store_->list_files(codebase_.id(), "missing", false); }).code(),
            StatusCode::NOT_FOUND);
}

// Names a proto3 string cannot carry (not UTF-8) are left out, with what is below them;
// everything listed can be named back in a request.
TEST_F(FileTransferTest, ListFilesLeavesOutNamesThatAreNotUtf8) {
  write_file(files(codebase_) / "ok.txt", "1");
  write_file(files(codebase_) / "\xff.bin", "2");
  write_file(files(codebase_) / "caf\xe9" / "inside.txt", "3");
  write_file(files(codebase_) / "caf\xc3\xa9.txt", "4");  // UTF-8: listed
  const v1::ListFilesResponse listed = store_->list_files(codebase_.id(), "/", true);
  std::vector<std::string> paths;
  for (const v1::FileInfo& info : listed.files()) paths.push_back(info.path());
  EXPECT_EQ(paths, (std::vector<std::string>{"/caf\xc3\xa9.txt", "/ok.txt"}));
  for (const std::string& path : paths)
    store_->download(codebase_.id(), path, [](const std::string&) { return true; });
}

TEST_F(FileTransferTest, UploadToUnknownCodebaseIsNotFound) {
  const ApiError error =
      api_error_of([&] { store_->upload("cb_ffffffffffffffff", "a", 0, chunks_of({"x"})); });
  EXPECT_EQ(error.code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(error.reason(), kReasonCodebaseNotFound);
}

}  // namespace
}  // namespace agentfense::store::testing
