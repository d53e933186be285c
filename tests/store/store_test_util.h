// Real temp directories and a real SQLite file for store tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/api_error.h"
#include "common/streams.h"
#include "store/codebase_store.h"
#include "store/database.h"
#include "store/schema.h"

namespace agentfense::store::testing {

namespace fs = std::filesystem;

inline void write_file(const fs::path& path, const std::string& content, mode_t mode = 0644) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  fs::permissions(path, static_cast<fs::perms>(mode));
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

inline mode_t mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// A Next<std::string> that yields `chunks` one by one.
inline Next<std::string> chunks_of(std::vector<std::string> chunks) {
  auto state = std::make_shared<std::pair<std::vector<std::string>, size_t>>(std::move(chunks), 0);
  return [state](std::string& out) {
    if (state->second == state->first.size()) return false;
    out = state->first[state->second++];
    return true;
  };
}

// Runs `body` and returns the ApiError it threw (fails the test if it threw nothing).
template <typename Body>
ApiError api_error_of(Body&& body) {
  try {
    body();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "expected an ApiError";
  return ApiError(StatusCode::OK, "none");
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/af-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    root_ = templ;
    codebases_ = root_ / "codebases";
    reopen();
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
  // Closes and reopens the database file: what a server restart does.
  void reopen() {
    store_.reset();
    db_.reset();
    db_ = Database::open((root_ / "meta.db").string(), store_migrations());
    store_ = std::make_unique<CodebaseStore>(*db_, codebases_.string(), limits_);
    store_->start_removals();  // as the server does once it listens
  }
  fs::path files(const v1::Codebase& codebase) const { return codebases_ / codebase.id(); }

  fs::path root_, codebases_;
  UploadLimits limits_;  // for the next reopen()
  std::unique_ptr<Database> db_;
  std::unique_ptr<CodebaseStore> store_;
};

}  // namespace agentfense::store::testing
