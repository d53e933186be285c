// Real temporary directories for layer tests: a base codebase and a sandbox STATE dir.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "layer/journal.h"
#include "layer/scope.h"
#include "policy/policy.h"

namespace agentfense::layer::testing {

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

inline BaseStamp stamp_of_path(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return BaseStamp{st.st_ino, st.st_size,
                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

// A sandbox policy from `agentfense run --rule` flags ("pattern=level[:priority]").
inline policy::Policy policy_of(std::initializer_list<std::string_view> flags) {
  std::vector<policy::Rule> rules;
  for (const std::string_view flag : flags) rules.push_back(policy::parse_rule_flag(flag));
  return policy::Policy::compile(std::move(rules));
}

// The layer tests' default sandbox: it sees and may write everything.
inline const policy::Policy& write_all() {
  static const policy::Policy policy = policy_of({"**=write"});
  return policy;
}

// A base tree, a STATE dir with its Journal, and helpers that mimic what the fs daemon
// does on copy-up, create and delete.
class LayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/af-layer-test-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    root_ = templ;
    base_ = root_ / "base";
    state_ = root_ / "state";
    fs::create_directories(base_);
    base_fd_ = UniqueFd(::open(base_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(base_fd_.valid());
    reopen_journal();
  }
  void TearDown() override {
    journal_.reset();
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  void reopen_journal() {
    journal_.reset();
    journal_ = Journal::open(state_.string());
  }
  fs::path upper() const { return state_ / "upper"; }
  fs::path base(const std::string& rel) const { return base_ / rel; }
  fs::path up(const std::string& rel) const { return upper() / rel; }

  // Copy-up as the fs does it: content + mode into upper, stamp into the journal.
  void copy_up(const std::string& rel) {
    fs::create_directories(up(rel).parent_path());
    fs::copy_file(base(rel), up(rel), fs::copy_options::overwrite_existing);
    fs::permissions(up(rel), static_cast<fs::perms>(mode_of(base(rel))));
    EXPECT_EQ(journal_->record_copy_up("/" + rel, stamp_of_path(base(rel))), 0);
  }
  // Mirrors a base directory's mode into upper (a parent created for a copy-up).
  void mirror_dir(const std::string& rel) {
    fs::create_directories(up(rel));
    fs::permissions(up(rel), static_cast<fs::perms>(mode_of(base(rel))));
  }

  fs::path root_, base_, state_;
  UniqueFd base_fd_;
  std::unique_ptr<Journal> journal_;
};

}  // namespace agentfense::layer::testing
