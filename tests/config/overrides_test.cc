#include <gtest/gtest.h>

#include "config_test_util.h"

namespace agentfense::server::testing {
namespace {

TEST(ConfigOverrides, FlagsReplaceFileValues) {
  Config config;
  apply_overrides(config, {.grpc_addr = "127.0.0.1:0",
                           .http_addr = "[::1]:8081",
                           .log_level = "warn",
                           .log_format = "json"});
  EXPECT_EQ(config.server.grpc_addr, "127.0.0.1:0");
  EXPECT_EQ(config.server.http_addr, "[::1]:8081");
  EXPECT_EQ(config.logging.level, log::Level::kWarn);
  EXPECT_EQ(config.logging.format, log::Format::kJson);
}

TEST(ConfigOverrides, UnsetFlagsLeaveTheConfigAlone) {
  Config config;
  config.server.grpc_addr = ":1234";
  apply_overrides(config, {});
  EXPECT_EQ(config.server.grpc_addr, ":1234");
  EXPECT_EQ(config.storage.db_path, "/var/lib/agentfense/agentfense.db");
}

TEST(ConfigOverrides, DataDirRederivesEveryDerivedPath) {
  Config config;
  apply_overrides(config, {.data_dir = "/tmp/af-test/"});
  EXPECT_EQ(config.storage.data_dir, "/tmp/af-test");
  EXPECT_EQ(config.storage.codebase_path, "/tmp/af-test/codebases");
  EXPECT_EQ(config.storage.db_path, "/tmp/af-test/agentfense.db");
  EXPECT_EQ(config.storage.mount_path, "/tmp/af-test/run");
}

TEST_F(ConfigFileTest, DataDirOverrideKeepsPathsTheFileSetExplicitly) {
  Config config = load_config(write_config(
      "storage:\n  data_dir: /srv/af\n  db_path: /db/meta.db\n  mount_path: /run/af-mounts\n"));
  EXPECT_EQ(config.storage.codebase_path, "/srv/af/codebases");
  apply_overrides(config, {.data_dir = "/tmp/other"});
  EXPECT_EQ(config.storage.data_dir, "/tmp/other");
  EXPECT_EQ(config.storage.codebase_path, "/tmp/other/codebases");  // derived: follows
  EXPECT_EQ(config.storage.db_path, "/db/meta.db");                 // explicit: kept
  EXPECT_EQ(config.storage.mount_path, "/run/af-mounts");           // explicit: kept
}

TEST(ConfigOverrides, DataDirBackToTheDefaultRestoresTheRunMountPath) {
  Config config;
  apply_overrides(config, {.data_dir = "/tmp/x"});
  apply_overrides(config, {.data_dir = "/var/lib/agentfense"});
  EXPECT_EQ(config.storage.mount_path, "/run/agentfense/server");
}

TEST(ConfigOverrides, BadFlagValuesNameTheFlag) {
  Config config;
  expect_user_error(
      [&] { apply_overrides(config, {.grpc_addr = "localhost"}); },
      "bad value 'localhost' for --grpc-addr (expected host:port or :port, port 0..65535)");
  expect_user_error(
      [&] { apply_overrides(config, {.http_addr = ":99999"}); },
      "bad value ':99999' for --http-addr (expected host:port or :port, port 0..65535)");
  expect_user_error([&] { apply_overrides(config, {.data_dir = "./data"}); },
                    "relative path './data' for --data-dir (storage paths must be absolute)");
  expect_user_error([&] { apply_overrides(config, {.log_level = "trace"}); },
                    "bad value 'trace' for --log-level (expected debug, info, warn or error)");
  expect_user_error([&] { apply_overrides(config, {.log_format = "yaml"}); },
                    "bad value 'yaml' for --log-format (expected text or json)");
}

TEST(ConfigOverrides, OneSocketForGrpcAndRestIsRefused) {
  Config config;
  expect_user_error(
      [&] { apply_overrides(config, {.grpc_addr = "127.0.0.1:7000", .http_addr = ":7000"}); },
      "server.grpc_addr '127.0.0.1:7000' and server.http_addr ':7000' are one socket: the gRPC "
      "and REST listeners need different ports");
  EXPECT_NE(config.server.http_addr, ":7000");  // left untouched
  apply_overrides(config, {.grpc_addr = "127.0.0.1:7000", .http_addr = "127.0.0.1:7001"});
  EXPECT_EQ(config.server.http_addr, "127.0.0.1:7001");
}

TEST(ConfigOverrides, ABadFlagLeavesTheConfigUntouched) {
  Config config;
  expect_user_error(
      [&] { apply_overrides(config, {.grpc_addr = ":1", .data_dir = "/x", .log_level = "loud"}); },
      "bad value 'loud' for --log-level (expected debug, info, warn or error)");
  EXPECT_EQ(config.server.grpc_addr, "127.0.0.1:9000");
  EXPECT_EQ(config.storage.data_dir, "/var/lib/agentfense");
}

}  // namespace
}  // namespace agentfense::server::testing
