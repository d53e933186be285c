// Every class of configuration error stops start-up with one exact line naming the key,
// the bad value and the file and line it came from.
#include <gtest/gtest.h>

#include "config_test_util.h"

namespace agentfense::server::testing {
namespace {

class ConfigErrorTest : public ConfigFileTest {
 protected:
  // Loads `yaml` and expects the error `message`, in which "@" stands for the file path.
  void expect_error(const std::string& yaml, std::string message) {
    const std::string path = write_config(yaml);
    for (size_t at = message.find('@'); at != std::string::npos; at = message.find('@', at))
      message.replace(at, 1, path);
    expect_user_error([&] { load_config(path); }, message);
  }
};

TEST_F(ConfigErrorTest, UnknownKeySuggestsTheClosestKnownKey) {
  expect_error("# limits\nsandbox:\n  max_per_user: 5\n  max_per_usr: 5\n",
               "unknown key 'sandbox.max_per_usr' in @ line 4 "
               "(did you mean 'sandbox.max_per_user'?)");
  expect_error("servr:\n  grpc_addr: ':1'\n",
               "unknown key 'servr' in @ line 1 (did you mean 'server'?)");
}

TEST_F(ConfigErrorTest, UnknownKeyInTheWrongSectionPointsToTheRightOne) {
  expect_error("grpc_addr: ':1'\n",
               "unknown key 'grpc_addr' in @ line 1 (did you mean 'server.grpc_addr'?)");
  expect_error(
      "server:\n  max_per_user: 3\n",
      "unknown key 'server.max_per_user' in @ line 2 (did you mean 'sandbox.max_per_user'?)");
}

TEST_F(ConfigErrorTest, UnknownKeyWithNothingCloseHasNoSuggestion) {
  expect_error("metrics:\n  port: 9100\n", "unknown key 'metrics' in @ line 1");
}

TEST_F(ConfigErrorTest, DuplicateKey) {
  expect_error("logging:\n  level: info\n  level: debug\n",
               "duplicate key 'logging.level' in @ line 3");
}

TEST_F(ConfigErrorTest, WrongTypes) {
  expect_error("server: [':1']\n", "server must be a mapping of settings in @ line 1 (got a list)");
  expect_error("runtime:\n  docker: true\n",
               "runtime.docker must be a mapping of settings in @ line 2 (got a single value)");
  expect_error("server:\n  grpc_addr: {port: 1}\n",
               "server.grpc_addr must be a single value in @ line 2 (got a mapping)");
  expect_error("storage:\n  import_roots: /srv\n",
               "storage.import_roots must be a list of paths in @ line 2 (got a single value)");
  expect_error("runtime:\n  type:\n", "runtime.type has no value in @ line 2");
  expect_error("- server\n",
               "config file @ must be a mapping of sections: server, storage, "
               "runtime, sandbox, auth, logging, audit (got a list)");
}

TEST_F(ConfigErrorTest, BadDurations) {
  const std::string hint = "a duration such as 500ms, 30s, 5m, 1h30m or whole seconds)";
  expect_error(
      "runtime:\n  default_timeout: 5x\n",
      "bad value '5x' for runtime.default_timeout in @ line 2 (expected a positive " + hint);
  expect_error("runtime:\n  max_timeout: 0\n",
               "bad value '0' for runtime.max_timeout in @ line 2 (expected a positive " + hint);
  expect_error("sandbox:\n  default_expiration: 1d\n",
               "bad value '1d' for sandbox.default_expiration in @ line 2 (expected " + hint);
  expect_error(
      "sandbox:\n  cleanup_interval: -30s\n",
      "bad value '-30s' for sandbox.cleanup_interval in @ line 2 (expected a positive " + hint);
}

TEST_F(ConfigErrorTest, BadAuditRetention) {
  const std::string hint = "a duration such as 500ms, 30s, 5m, 1h30m or whole seconds)";
  expect_error("audit:\n  retention: 3w\n",
               "bad value '3w' for audit.retention in @ line 2 (expected " + hint);
  expect_error("audit:\n  retention: 999999d\n",
               "bad value '999999d' for audit.retention in @ line 2 (at most 100000d)");
  expect_error("audit:\n  max_bytes: lots\n",
               "bad value 'lots' for audit.max_bytes in @ line 2 (expected a size such as 10GiB, "
               "512M or bytes, or 0 for no limit)");
}

TEST_F(ConfigErrorTest, BadSizesCountsAndBooleans) {
  expect_error("runtime:\n  output_limit: 16 MB\n",
               "bad value '16 MB' for runtime.output_limit in @ line 2 "
               "(expected a positive size of at most 16MiB: a command's result is one "
               "message)");
  // Past it a full result of output that is not UTF-8 no longer fit one gRPC message.
  expect_error("runtime:\n  output_limit: 17MiB\n",
               "bad value '17MiB' for runtime.output_limit in @ line 2 "
               "(expected a positive size of at most 16MiB: a command's result is one "
               "message)");
  expect_error(
      "sandbox:\n  max_per_user: -1\n",
      "bad value '-1' for sandbox.max_per_user in @ line 2 (expected a whole number, 0 or more)");
  expect_error("sandbox:\n  max_sessions_per_sandbox: many\n",
               "bad value 'many' for sandbox.max_sessions_per_sandbox in @ line 2 "
               "(expected a whole number, 0 or more)");
  expect_error("sandbox:\n  max_session_per_sandbox: 4\n",
               "unknown key 'sandbox.max_session_per_sandbox' in @ line 2 "
               "(did you mean 'sandbox.max_sessions_per_sandbox'?)");
  for (const char* range : {"5-1", "0-10", "100", "1-4294967295", "a-b", "-5-9"}) {
    expect_error(std::string("sandbox:\n  uid_range: \"") + range + "\"\n",
                 std::string("bad value '") + range + "' for sandbox.uid_range in @ line 2 " +
                     "(expected FIRST-LAST host ids, 1 <= FIRST <= LAST <= 4294967294)");
  }
  expect_error("sandbox:\n  disk_bytes: lots\n",
               "bad value 'lots' for sandbox.disk_bytes in @ line 2 "
               "(expected a size such as 10GiB, 512M or bytes, or 0 for no limit)");
  expect_error("sandbox:\n  disk_inodes: 1e6\n",
               "bad value '1e6' for sandbox.disk_inodes in @ line 2 (expected a whole number, 0 "
               "or more)");
  expect_error("storage:\n  max_upload_bytes: -1M\n",
               "bad value '-1M' for storage.max_upload_bytes in @ line 2 "
               "(expected a size such as 10GiB, 512M or bytes, or 0 for no limit)");
  expect_error("storage:\n  max_archive_ratio: 1.5\n",
               "bad value '1.5' for storage.max_archive_ratio in @ line 2 (expected a whole "
               "number, 0 or more)");
  expect_error("storage:\n  max_archive_size: 1G\n",
               "unknown key 'storage.max_archive_size' in @ line 2 (did you mean "
               "'storage.max_archive_bytes'?)");
  expect_error("runtime:\n  docker:\n    enable_networking: maybe\n",
               "bad value 'maybe' for runtime.docker.enable_networking in @ line 3 "
               "(expected true or false)");
}

TEST_F(ConfigErrorTest, BadAddresses) {
  expect_error("server:\n  grpc_addr: 9000\n",
               "bad value '9000' for server.grpc_addr in @ line 2 "
               "(expected host:port or :port, port 0..65535)");
  expect_error("server:\n  http_addr: ':70000'\n",
               "bad value ':70000' for server.http_addr in @ line 2 "
               "(expected host:port or :port, port 0..65535)");
}

TEST_F(ConfigErrorTest, MaxTimeoutShorterThanDefaultTimeout) {
  expect_error(
      "runtime:\n  default_timeout: 10m\n  max_timeout: 2m\n",
      "runtime.max_timeout (2m) is shorter than runtime.default_timeout (10m) in @ line 3");
  // Only the default was raised: the line to fix is the one that was written.
  expect_error("runtime:\n  default_timeout: 2h\n",
               "runtime.max_timeout (1h) is shorter than runtime.default_timeout (2h) in @ line 2");
}

TEST_F(ConfigErrorTest, EnumeratedValues) {
  expect_error("runtime:\n  type: firecracker\n",
               "bad value 'firecracker' for runtime.type in @ line 2 (expected bwrap or docker)");
  expect_error(
      "logging:\n  level: verbose\n",
      "bad value 'verbose' for logging.level in @ line 2 (expected debug, info, warn or error)");
  expect_error("logging:\n  format: xml\n",
               "bad value 'xml' for logging.format in @ line 2 (expected text or json)");
  expect_error("runtime:\n  docker:\n    host: tcp://1.2.3.4:2375\n",
               "bad value 'tcp://1.2.3.4:2375' for runtime.docker.host in @ line 3 "
               "(expected unix:///path/to/docker.sock)");
  // A sandbox's container never joins the host's network namespace or another's.
  for (const char* mode : {"host", "container:abc"})
    expect_error(std::string("runtime:\n  docker:\n    network_mode: ") + mode + "\n",
                 std::string("bad value '") + mode +
                     "' for runtime.docker.network_mode in @ line 3 (expected none, bridge or "
                     "the name of a Docker network (not host or container:))");
}

TEST_F(ConfigErrorTest, RelativeStoragePaths) {
  expect_error(
      "storage:\n  data_dir: data\n",
      "relative path 'data' for storage.data_dir in @ line 2 (storage paths must be absolute)");
  expect_error("storage:\n  import_roots:\n    - /ok\n    - repos/\n",
               "relative path 'repos/' for storage.import_roots in @ line 2 "
               "(storage paths must be absolute)");
}

TEST_F(ConfigErrorTest, SyntaxErrorNamesFileAndLine) {
  const std::string path = write_config("server:\n  grpc_addr: ':1'\n   http_addr: ':2'\n");
  try {
    load_config(path);
    FAIL() << "no error";
  } catch (const UserError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.rfind("invalid YAML in " + path + " line 3: ", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos);
  }
}

TEST_F(ConfigErrorTest, UnreadableFile) {
  expect_user_error([&] { load_config((dir_ / "missing.yaml").string()); },
                    "cannot read config file " + (dir_ / "missing.yaml").string() +
                        ": No such file or directory");
  expect_user_error([&] { load_config(dir_.string()); },
                    "cannot read config file " + dir_.string() + ": Is a directory");
}

}  // namespace
}  // namespace agentfense::server::testing
