#include <gtest/gtest.h>

#include "config_test_util.h"
#include "server/config/config.h"

namespace agentfense::server::testing {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

void expect_defaults(const Config& config) {
  EXPECT_EQ(config.audit.retention, hours(24 * 90));
  EXPECT_EQ(config.audit.max_bytes, std::int64_t{10} << 30);
  // Loopback only: nothing is exposed until someone decides to (auth_settings.h).
  EXPECT_EQ(config.server.grpc_addr, "127.0.0.1:9000");
  EXPECT_EQ(config.server.http_addr, "127.0.0.1:8080");
  EXPECT_FALSE(config.server.tls.enabled());
  EXPECT_EQ(config.auth.mode, AuthMode::kDefault);
  EXPECT_TRUE(config.auth.keys.empty());
  EXPECT_TRUE(config.auth.keys_file.empty());
  // Every quota off but follows: each holds server threads and descriptors.
  EXPECT_EQ(config.auth.default_quotas, PrincipalQuotas{.concurrent_follows = 16});
  EXPECT_EQ(config.audit.max_follows, 256);
  EXPECT_EQ(config.storage.data_dir, "/var/lib/agentfense");
  EXPECT_EQ(config.storage.codebase_path, "/var/lib/agentfense/codebases");
  EXPECT_EQ(config.storage.db_path, "/var/lib/agentfense/agentfense.db");
  EXPECT_EQ(config.storage.mount_path, "/run/agentfense/server");
  EXPECT_TRUE(config.storage.import_roots.empty());
  EXPECT_EQ(config.runtime.type, RuntimeKind::kBwrap);
  EXPECT_EQ(config.runtime.default_timeout, minutes(5));
  EXPECT_EQ(config.runtime.max_timeout, hours(1));
  EXPECT_EQ(config.runtime.output_limit, 16 << 20);
  EXPECT_EQ(config.runtime.docker.host, "unix:///var/run/docker.sock");
  EXPECT_EQ(config.runtime.docker.default_image, "agentfense-runtime:latest");
  EXPECT_EQ(config.runtime.docker.network_mode, "none");
  EXPECT_FALSE(config.runtime.docker.enable_networking);
  EXPECT_EQ(config.sandbox.default_expiration, hours(24));
  EXPECT_EQ(config.sandbox.max_per_user, 100);
  EXPECT_EQ(config.sandbox.max_sessions_per_sandbox, 16);
  EXPECT_EQ(config.sandbox.cleanup_interval, seconds(30));
  EXPECT_EQ(config.sandbox.uid_range, kDefaultIdRange);
  EXPECT_TRUE(config.sandbox.prewarm);
  EXPECT_EQ(config.sandbox.disk_bytes, std::int64_t{10} << 30);
  EXPECT_EQ(config.sandbox.disk_inodes, 1'000'000);
  EXPECT_EQ(config.storage.max_upload_bytes, std::int64_t{1} << 30);
  EXPECT_EQ(config.storage.max_codebase_bytes, std::int64_t{10} << 30);
  EXPECT_EQ(config.storage.max_archive_bytes, std::int64_t{4} << 30);
  EXPECT_EQ(config.storage.max_archive_entries, 1'000'000);
  EXPECT_EQ(config.storage.max_archive_ratio, 100);
  EXPECT_EQ(config.logging.level, log::Level::kInfo);
  EXPECT_EQ(config.logging.format, log::Format::kText);
}

TEST(ConfigDefaults, NoFileGivesAWorkingConfiguration) {
  const Config config = load_config("");
  expect_defaults(config);
  EXPECT_EQ(config.source, "");
}

TEST_F(ConfigFileTest, EmptyOrCommentOnlyFileGivesDefaults) {
  expect_defaults(load_config(write_config("")));
  expect_defaults(load_config(write_config("# nothing configured yet\n")));
  expect_defaults(load_config(write_config("server:\nruntime:\n  docker:\n")));
}

TEST_F(ConfigFileTest, FullFileSetsEveryKey) {
  const std::string path = write_config(R"(# every key, none at its default
server:
  grpc_addr: "127.0.0.1:9100"
  http_addr: ":0"
storage:
  data_dir: /srv/af
  codebase_path: /srv/code/
  db_path: /srv/db/meta.db
  mount_path: /run/af-test
  import_roots: [/home/projects, /opt/repos]
  max_upload_bytes: 64MiB
  max_codebase_bytes: 0
  max_archive_bytes: 2G
  max_archive_entries: 5000
  max_archive_ratio: 0
runtime:
  type: docker
  default_timeout: 90
  max_timeout: 2h30m
  output_limit: 8MiB
  docker:
    host: unix:///run/docker.sock
    default_image: "example/runtime:1.2"
    network_mode: bridge
    enable_networking: true
sandbox:
  default_expiration: "0"
  max_per_user: 0
  max_sessions_per_sandbox: 4
  cleanup_interval: 500ms
  uid_range: 200000-200099
  prewarm: false
  disk_bytes: 512M
  disk_inodes: 0
logging:
  level: debug
  format: json
audit:
  retention: 30d
  max_bytes: 1GiB
)");
  const Config config = load_config(path);
  EXPECT_EQ(config.source, path);
  EXPECT_EQ(config.server.grpc_addr, "127.0.0.1:9100");
  EXPECT_EQ(config.server.http_addr, ":0");
  EXPECT_EQ(config.storage.data_dir, "/srv/af");
  EXPECT_EQ(config.storage.codebase_path, "/srv/code");  // normalised: no trailing '/'
  EXPECT_EQ(config.storage.db_path, "/srv/db/meta.db");
  EXPECT_EQ(config.storage.mount_path, "/run/af-test");
  EXPECT_EQ(config.storage.import_roots,
            (std::vector<std::string>{"/home/projects", "/opt/repos"}));
  EXPECT_EQ(config.runtime.type, RuntimeKind::kDocker);
  EXPECT_EQ(config.runtime.default_timeout, seconds(90));
  EXPECT_EQ(config.runtime.max_timeout, minutes(150));
  EXPECT_EQ(config.runtime.output_limit, 8 << 20);
  EXPECT_EQ(config.runtime.docker.host, "unix:///run/docker.sock");
  EXPECT_EQ(config.runtime.docker.default_image, "example/runtime:1.2");
  EXPECT_EQ(config.runtime.docker.network_mode, "bridge");
  EXPECT_TRUE(config.runtime.docker.enable_networking);
  EXPECT_EQ(config.sandbox.default_expiration, milliseconds(0));
  EXPECT_EQ(config.sandbox.max_per_user, 0);
  EXPECT_EQ(config.sandbox.max_sessions_per_sandbox, 4);
  EXPECT_EQ(config.sandbox.cleanup_interval, milliseconds(500));
  EXPECT_EQ(config.sandbox.uid_range, (IdRange{200000, 200099}));
  EXPECT_FALSE(config.sandbox.prewarm);
  EXPECT_EQ(config.sandbox.disk_bytes, 512 << 20);
  EXPECT_EQ(config.sandbox.disk_inodes, 0);  // no limit
  EXPECT_EQ(config.storage.max_upload_bytes, 64 << 20);
  EXPECT_EQ(config.storage.max_codebase_bytes, 0);
  EXPECT_EQ(config.storage.max_archive_bytes, std::int64_t{2} << 30);
  EXPECT_EQ(config.storage.max_archive_entries, 5000);
  EXPECT_EQ(config.storage.max_archive_ratio, 0);
  EXPECT_EQ(config.logging.level, log::Level::kDebug);
  EXPECT_EQ(config.logging.format, log::Format::kJson);
  EXPECT_EQ(config.audit.retention, hours(24 * 30));
  EXPECT_EQ(config.audit.max_bytes, 1 << 30);
}

TEST_F(ConfigFileTest, DataDirInTheFileMovesTheDerivedPaths) {
  const Config config = load_config(write_config("storage:\n  data_dir: /srv/af/../agentfense\n"));
  EXPECT_EQ(config.storage.data_dir, "/srv/agentfense");
  EXPECT_EQ(config.storage.codebase_path, "/srv/agentfense/codebases");
  EXPECT_EQ(config.storage.db_path, "/srv/agentfense/agentfense.db");
  EXPECT_EQ(config.storage.mount_path, "/srv/agentfense/run");
}

TEST_F(ConfigFileTest, ExplicitPathsSurviveADataDirInTheSameFile) {
  const Config config =
      load_config(write_config("storage:\n  db_path: /db/x.db\n  data_dir: /srv/af\n"));
  EXPECT_EQ(config.storage.db_path, "/db/x.db");
  EXPECT_EQ(config.storage.codebase_path, "/srv/af/codebases");
}

TEST(ConfigDescribe, ListsEveryEffectiveSettingReadably) {
  Config config;
  config.runtime.max_timeout = minutes(90);
  const log::Fields fields = describe_fields(config);
  EXPECT_EQ(fields["config_file"], "(defaults)");
  EXPECT_EQ(fields["server.grpc_addr"], "127.0.0.1:9000");
  EXPECT_EQ(fields["auth.mode"], "none (loopback only)");
  EXPECT_EQ(fields["auth.keys"], "0 entries");
  EXPECT_EQ(fields["auth.default_quotas.stored_bytes"], "0");
  EXPECT_EQ(fields["runtime.type"], "bwrap");
  EXPECT_EQ(fields["runtime.max_timeout"], "1h30m");
  EXPECT_EQ(fields["runtime.output_limit"], "16MiB");
  EXPECT_EQ(fields["sandbox.max_per_user"], 100);
  EXPECT_EQ(fields["sandbox.max_sessions_per_sandbox"], 16);
  EXPECT_EQ(fields["sandbox.uid_range"], "1879048192-1879113727");
  EXPECT_EQ(fields["sandbox.prewarm"], true);
  EXPECT_EQ(fields["runtime.docker.enable_networking"], false);
  EXPECT_EQ(fields["logging.level"], "info");
  EXPECT_EQ(fields["sandbox.disk_bytes"], "10GiB");
  EXPECT_EQ(fields["sandbox.disk_inodes"], 1'000'000);
  EXPECT_EQ(fields["storage.max_upload_bytes"], "1GiB");
  EXPECT_EQ(fields["storage.max_archive_ratio"], 100);
  EXPECT_EQ(fields["audit.retention"], "2160h");
  EXPECT_EQ(fields["audit.max_bytes"], "10GiB");
  EXPECT_EQ(fields["server.allowed_hosts"], nlohmann::json::array());
  EXPECT_EQ(fields["sandbox.pids_limit"], 1024);
  EXPECT_EQ(fields["sandbox.memory_bytes"], "4GiB");
  EXPECT_EQ(fields["audit.max_sandbox_bytes"], "256MiB");
  EXPECT_EQ(fields["audit.max_follows"], 256);
  EXPECT_EQ(fields["auth.default_quotas.concurrent_follows"], "16");
  EXPECT_EQ(fields["auth.default_quotas.sandbox_disk_bytes"], "0");
  EXPECT_EQ(fields.size(), 54u);  // config_file + all 53 keys
  const std::string line = describe(config);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(
      line.rfind("{\"config_file\":\"(defaults)\",\"server.grpc_addr\":\"127.0.0.1:9000\"", 0), 0u)
      << line;
}

}  // namespace
}  // namespace agentfense::server::testing
