// agentfense-server configuration: a YAML file (every key optional) plus command-line
// overrides. A default-constructed Config is a working configuration, so
// `agentfense server` runs with no file at all.
//
// Any problem stops start-up with one UserError line naming the key, the bad value and
// where it came from, e.g.
//   unknown key 'sandbox.max_per_usr' in /etc/x.yaml line 7 (did you mean
//   'sandbox.max_per_user'?)
//   bad value '5x' for runtime.default_timeout in /etc/x.yaml line 3 (expected a
//   duration such as 500ms, 30s, 5m, 1h30m or whole seconds)
//   bad value 'nope' for --grpc-addr (expected host:port or :port, port 0..65535)
//
// The file format, with defaults:
//   server:   {grpc_addr: "127.0.0.1:9000", http_addr: "127.0.0.1:8080",
//              tls: {cert: FILE, key: FILE, client_ca: FILE},         (auth_settings.h)
//              allowed_hosts: [], allowed_origins: []}            (rest_browser_guard.h)
//   auth:     {mode: none|required, keys_file: FILE, keys: [entries], (key_entries.h)
//              default_quotas: {running_sandboxes: 0, sessions: 0, codebases: 0,
//                               stored_bytes: 0, sandbox_disk_bytes: 0, concurrent_execs: 0,
//                               concurrent_follows: 16, requests_per_second: 0,
//                               request_burst: 0}}
//   storage:  {data_dir: /var/lib/agentfense, codebase_path: <data_dir>/codebases,
//              db_path: <data_dir>/agentfense.db, mount_path: /run/agentfense/server,
//              import_roots: []}
//   runtime:  {type: bwrap|docker, default_timeout: 5m, max_timeout: 1h,
//              output_limit: 16MiB,
//              docker: {host: "unix:///var/run/docker.sock",
//                       default_image: "agentfense-runtime:latest",
//                       network_mode: none, enable_networking: false}}
//   sandbox:  {default_expiration: 24h, max_per_user: 100, max_sessions_per_sandbox: 16,
//              cleanup_interval: 30s, uid_range: 1879048192-1879113727,
//              disk_bytes: 10GiB, disk_inodes: 1000000, pids_limit: 1024,
//              memory_bytes: 4GiB}
//   storage upload limits (0 = no limit): {max_upload_bytes: 1GiB,
//              max_codebase_bytes: 10GiB, max_archive_bytes: 4GiB,
//              max_archive_entries: 1000000, max_archive_ratio: 100}
//   logging:  {level: debug|info|warn|error, format: text|json}
//   audit:    {retention: 90d, max_bytes: 10GiB, max_sandbox_bytes: 256MiB, max_follows: 256}
//             (server/audit_trails.h, audit/recorder.h; 0 = no limit)
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/id_range.h"
#include "common/log.h"
#include "server/config/key_entries.h"
#include "server/principal.h"

namespace agentfense::server {

using std::chrono::milliseconds;

enum class RuntimeKind { kBwrap, kDocker };
// auth.mode: kDefault = required when any credential is configured (auth.keys,
// auth.keys_file, server.tls.client_ca), otherwise none, and then loopback only.
enum class AuthMode { kDefault, kNone, kRequired };

inline constexpr const char* kDefaultDataDir = "/var/lib/agentfense";
inline constexpr const char* kDefaultMountPath = "/run/agentfense/server";

struct Config {
  struct Server {
    // Validated "host:port" or ":port"; the transports split it with
    // parse_listen_address (address_syntax.h). Loopback by default: anything else needs
    // authentication or an explicit auth.mode: none (auth_settings.h).
    std::string grpc_addr = "127.0.0.1:9000";
    std::string http_addr = "127.0.0.1:8080";
    // TLS for both transports when cert and key are set; client_ca additionally
    // verifies client certificates (a second way to authenticate). Absolute paths.
    struct Tls {
      std::string cert;
      std::string key;
      std::string client_ca;
      bool enabled() const { return !cert.empty(); }
    } tls;
    // REST requests whose Host is a name not listed here, or that come from a web page
    // of an origin not listed, are refused (rest_browser_guard.h). "*" allows any.
    std::vector<std::string> allowed_hosts;
    std::vector<std::string> allowed_origins;
  } server;

  struct Auth {
    AuthMode mode = AuthMode::kDefault;
    std::string keys_file;       // managed by `agentfense server keys`; re-read on change
    std::vector<KeyEntry> keys;  // inline entries
    // For entries that do not set a quota. Follows are bounded by default: each holds
    // server threads and descriptors for as long as its sandbox lives.
    PrincipalQuotas default_quotas{.concurrent_follows = 16};
  } auth;

  // All paths absolute and lexically normalised (no trailing '/', no "..").
  struct Storage {
    std::string data_dir = kDefaultDataDir;
    // Derived from data_dir unless set explicitly (see the *_explicit flags).
    std::string codebase_path = std::string(kDefaultDataDir) + "/codebases";
    std::string db_path = std::string(kDefaultDataDir) + "/agentfense.db";
    // Per-sandbox run dirs and FUSE mounts; the server must create it root-only (0700).
    // Stays on /run (tmpfs: stale mounts vanish on reboot) for the default data_dir;
    // with a custom data_dir it follows it, as <data_dir>/run, so two servers with
    // different data dirs (tests) never share mount points.
    std::string mount_path = kDefaultMountPath;
    // Server-local directories whose subtrees ImportDirectory may serve in place.
    std::vector<std::string> import_roots;
    // Upload limits, each 0 = no limit (store/upload_limits.h): bytes received per
    // upload request; bytes stored per codebase; an archive's expanded bytes, entries,
    // and expanded / compressed ratio (beyond its first 64 MiB).
    std::int64_t max_upload_bytes = std::int64_t{1} << 30;
    std::int64_t max_codebase_bytes = std::int64_t{10} << 30;
    std::int64_t max_archive_bytes = std::int64_t{4} << 30;
    std::int64_t max_archive_entries = 1'000'000;
    std::int64_t max_archive_ratio = 100;
    bool codebase_path_explicit = false;
    bool db_path_explicit = false;
    bool mount_path_explicit = false;
  } storage;

  struct Runtime {
    RuntimeKind type = RuntimeKind::kBwrap;
    milliseconds default_timeout = std::chrono::minutes(5);
    milliseconds max_timeout = std::chrono::hours(1);
    std::int64_t output_limit = std::int64_t{16} << 20;  // bytes, per stream
    struct Docker {
      std::string host = "unix:///var/run/docker.sock";
      std::string default_image = "agentfense-runtime:latest";
      std::string network_mode = "none";
      bool enable_networking = false;
    } docker;
  } runtime;

  struct Sandbox {
    milliseconds default_expiration = std::chrono::hours(24);  // 0 = never expires
    std::int64_t max_per_user = 100;                           // 0 = unlimited
    std::int64_t max_sessions_per_sandbox = 16;                // open ones; 0 = unlimited
    milliseconds cleanup_interval = std::chrono::seconds(30);
    // Each sandbox's write-layer quota (fs/write_quota.h) when ResourceLimits leaves it 0,
    // and the most a request may ask for; 0 = no limit.
    std::int64_t disk_bytes = std::int64_t{10} << 30;
    std::int64_t disk_inodes = 1'000'000;
    // Likewise each sandbox's processes (a command's process tree plus what sessions
    // started) and memory; 0 = no limit. As `agentfense run` by default.
    std::int64_t pids_limit = 1024;
    std::int64_t memory_bytes = std::int64_t{4} << 30;
    // Host uids/gids leased to running sandboxes, one each (supervisor/host_ids.h).
    IdRange uid_range = kDefaultIdRange;
    // Warm a started sandbox's kernel caches in the background (fs/prewarm_walk.h).
    bool prewarm = true;
  } sandbox;

  // Audit trails of destroyed sandboxes under <data_dir>/audit: removed when last
  // written longer ago than retention (0 = never), then oldest first while all trails
  // together exceed max_bytes (0 = no limit). A sandbox that still exists keeps its
  // trail. Applied at start and every cleanup_interval. Not unlimited by default: a
  // tenant creating and destroying sandboxes whose agents flood their trails wrote about
  // 28 GB per round of 100 sandboxes, charged to no quota.
  struct Audit {
    milliseconds retention = std::chrono::hours(24 * 90);
    std::int64_t max_bytes = std::int64_t{10} << 30;
    // What one sandbox's file events may add to its trail (0 = no limit); past it they
    // are counted, not written. An agent creating and deleting long-named files wrote
    // 37 MB/s into its trail, outside every quota.
    std::int64_t max_sandbox_bytes = std::int64_t{256} << 20;
    // Audit trails followed at once on the whole server, every principal together (0 = no
    // limit): each follow holds about 3 threads and 4 descriptors, and one tenant's 600
    // used up the server's open files (another's sandbox could not start).
    std::int64_t max_follows = 256;
  } audit;

  struct Logging {
    log::Level level = log::Level::kInfo;
    log::Format format = log::Format::kText;
  } logging;

  // The file this was loaded from; empty when running on defaults.
  std::string source;
};

// Command-line flags that win over the file: --grpc-addr, --http-addr, --data-dir,
// --log-level, --log-format. Unset members leave the Config alone.
struct Overrides {
  std::optional<std::string> grpc_addr;
  std::optional<std::string> http_addr;
  std::optional<std::string> data_dir;
  std::optional<std::string> log_level;
  std::optional<std::string> log_format;
};

// Loads and validates `path`; an empty path gives the defaults. Throws UserError.
Config load_config(const std::string& path);

// Validates and applies the flags (errors name the flag). A new data_dir re-derives
// codebase_path, db_path and mount_path unless the file set them explicitly.
void apply_overrides(Config& config, const Overrides& overrides);

// Recomputes the storage paths that were not set explicitly from data_dir.
void derive_storage_paths(Config::Storage& storage);

std::string_view to_string(RuntimeKind kind);

// Every effective setting as flat dotted keys in file order ("server.grpc_addr": ":9000",
// "runtime.default_timeout": "5m", ...), for the start-up log line:
//   log::info("server.config", describe_fields(config));
log::Fields describe_fields(const Config& config);
// The same as one compact JSON object.
std::string describe(const Config& config);

}  // namespace agentfense::server
