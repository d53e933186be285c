// Config files written to a real temporary directory, and an assertion on the exact
// one-line UserError a bad configuration must produce.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "common/errors.h"
#include "server/config/config.h"

namespace agentfense::server::testing {

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/af-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `yaml` to <tmp>/config.yaml and returns its path.
  std::string write_config(const std::string& yaml) {
    const std::string path = (dir_ / "config.yaml").string();
    std::ofstream(path, std::ios::trunc) << yaml;
    return path;
  }

  std::filesystem::path dir_;
};

// Runs `action`, which must throw UserError with exactly `message`.
inline void expect_user_error(const std::function<void()>& action, const std::string& message) {
  try {
    action();
    ADD_FAILURE() << "no UserError; expected: " << message;
  } catch (const UserError& error) {
    EXPECT_EQ(std::string(error.what()), message);
  }
}

}  // namespace agentfense::server::testing
