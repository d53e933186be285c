// Start-up is a linear chain; everything constructed is RAII and torn down in reverse:
//   logging -> auth and TLS checks -> directories -> database -> stores -> services ->
//   recover() -> reaper -> caller gate and scoped Api -> gRPC -> REST -> reloader ->
//   wait for a signal (SIGHUP: re-read keys and certificates) -> REST stop -> gRPC stop ->
//   sandboxes stopped.
#include "server/server_app.h"

#include <signal.h>
#include <sys/stat.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/errors.h"
#include "common/log.h"
#include "common/private_dir.h"
#include "runtime/cgroup_favordynmods.h"
#include "server/audit_trails.h"
#include "server/auth/authenticator.h"
#include "server/auth/key_ring.h"
#include "server/codebase_service.h"
#include "server/config/auth_settings.h"
#include "server/data_dir_lock.h"
#include "server/grpc_service.h"
#include "server/reload_thread.h"
#include "server/rest_gateway.h"
#include "server/sandbox_service.h"
#include "server/scoped_api.h"
#include "server/server_instance.h"
#include "server/spawner_thread.h"
#include "server/tenant_scope.h"
#include "store/codebase_store.h"
#include "store/database.h"
#include "store/ownership.h"
#include "store/sandbox_records.h"
#include "store/schema.h"
#include "store/session_records.h"
#include "supervisor/run_dir.h"
#include "supervisor/sibling_binary.h"

namespace agentfense::server {
namespace {

// Every sandbox.cleanup_interval: expired sandboxes are destroyed and audit retention is
// applied.
class Reaper {
 public:
  Reaper(std::function<void()> work, std::chrono::milliseconds interval)
      : thread_([this, work = std::move(work), interval] {
          std::unique_lock lock(mu_);
          while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
            lock.unlock();
            try {
              work();
            } catch (const std::exception& error) {
              log::error("reaper.failed", {{"error", error.what()}});
            }
            lock.lock();
          }
        }) {}
  ~Reaper() {
    {
      const std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Blocks SIGTERM/SIGINT (shut down) and SIGHUP (re-read keys and certificates) in every
// thread (call before any thread starts); the main thread waits for them.
sigset_t server_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) throw SystemError("pthread_sigmask", EINVAL);
  return set;
}

void ensure_dir(const std::string& path, mode_t mode) {
  std::filesystem::create_directories(path);
  check_syscall(::chmod(path.c_str(), mode), "chmod " + path);
}

DockerOptions docker_options(const Config& config, std::string instance) {
  const Config::Runtime::Docker& docker = config.runtime.docker;
  return {.host = docker.host,
          .default_image = docker.default_image,
          .network_mode = docker.network_mode,
          .enable_networking = docker.enable_networking,
          .instance = std::move(instance)};
}

SandboxServiceOptions sandbox_options(const Config& config, std::string instance) {
  return {.fs_program = supervisor::fs_program(),
          .sandboxes_dir = config.storage.data_dir + "/sandboxes",
          .mount_root = config.storage.mount_path,
          .default_timeout = config.runtime.default_timeout,
          .max_timeout = config.runtime.max_timeout,
          .default_expiration = config.sandbox.default_expiration,
          .max_per_user = static_cast<int>(config.sandbox.max_per_user),
          .max_sessions_per_sandbox = config.sandbox.max_sessions_per_sandbox,
          .output_limit = static_cast<std::size_t>(config.runtime.output_limit),
          .id_range = config.sandbox.uid_range,
          .default_runtime = config.runtime.type == RuntimeKind::kDocker ? v1::RUNTIME_TYPE_DOCKER
                                                                         : v1::RUNTIME_TYPE_BWRAP,
          .docker = docker_options(config, std::move(instance)),
          .disk = {.max_bytes = config.sandbox.disk_bytes,
                   .max_inodes = config.sandbox.disk_inodes,
                   .max_pids = config.sandbox.pids_limit,
                   .max_memory_bytes = config.sandbox.memory_bytes},
          .prewarm = config.sandbox.prewarm};
}

store::UploadLimits upload_limits(const Config& config) {
  const Config::Storage& s = config.storage;
  return {.max_upload_bytes = s.max_upload_bytes,
          .max_codebase_bytes = s.max_codebase_bytes,
          .max_archive_bytes = s.max_archive_bytes,
          .max_archive_entries = s.max_archive_entries,
          .max_archive_ratio = s.max_archive_ratio};
}

// How often the keys file and certificates are checked for changes: a revoked key is
// refused within this (plus the time to read the file).
constexpr std::chrono::milliseconds kReloadInterval(250);

TlsFiles tls_files(const Config& config) {
  return {.cert = config.server.tls.cert,
          .key = config.server.tls.key,
          .client_ca = config.server.tls.client_ca};
}

// Said once at start-up: what protects this server, and what does not.
void log_exposure(const Config& config) {
  const bool exposed = !is_loopback_address(config.server.grpc_addr) ||
                       !is_loopback_address(config.server.http_addr);
  if (config.auth.mode == AuthMode::kNone)
    log::warn("server.auth_disabled",
              {{"grpc_addr", config.server.grpc_addr},
               {"http_addr", config.server.http_addr},
               {"why",
                "auth.mode: none: anyone who reaches these addresses can run commands "
                "and read every codebase"}});
  if (exposed && authentication_required(config) && !config.server.tls.enabled())
    log::warn("server.keys_in_clear_text",
              {{"why", "API keys reach a non-loopback address without TLS; set server.tls"}});
}

// Said once at start-up when the host makes every sandbox's first command wait for the
// kernel (runtime/cgroup_favordynmods.h).
void log_cgroup_migration_cost() {
  const runtime::CgroupFavorDynmods state = runtime::cgroup_favordynmods();
  if (!state.cgroups || state.on) return;
  log::warn("server.cgroup_favordynmods_off",
            {{"cost",
              "moving a process into a cgroup waits for an RCU grace period: ~10 ms on the "
              "first command of every sandbox"},
             {"fix", state.cgroup2_mount.empty()
                         ? "no cgroup2 mount; v1 hierarchies cannot change it on remount "
                           "(docs/performance.md)"
                         : "remount " + state.cgroup2_mount +
                               " with favordynmods (scripts/setup.sh does)"}});
}

}  // namespace

int run_server(const Config& config) {
  check_auth_settings(config);  // a refusal is the only line printed
  const sigset_t signals = server_signals();
  log::configure(config.logging.level, config.logging.format);
  log::info("server.config", describe_fields(config));
  if (::geteuid() != 0)
    throw UserError("agentfense server must run as root (FUSE mounts, cgroups)");
  log_cgroup_migration_cost();
  // The data dir holds every sandbox's write layer, the codebase store every uploaded
  // file (hidden ones too: `.env` is read only through the fs): nobody else may read
  // them. Locked before anything in it is read or written (data_dir_lock.h): a second
  // server over it would "recover" the live one's sandboxes.
  ensure_dir(config.storage.data_dir, 0700);
  const DataDirLock data_dir_lock = DataDirLock::acquire(config.storage.data_dir);
  // Read before anything starts, so a bad keys file or certificate stops start-up.
  std::unique_ptr<KeyRing> keys;
  if (authentication_required(config))
    keys = std::make_unique<KeyRing>(config.auth.keys, config.auth.keys_file,
                                     config.auth.default_quotas);
  std::shared_ptr<TlsCertificates> certificates;
  if (config.server.tls.enabled())
    certificates =
        std::make_shared<TlsCertificates>(tls_files(config), config.storage.data_dir + "/tls");
  log_exposure(config);
  // The store is private too, also when the config puts it outside the data dir. Only
  // root processes (the server, its fs processes, dockerd) read the store itself.
  ensure_dir(config.storage.codebase_path, 0700);
  std::filesystem::create_directories(
      std::filesystem::path(config.storage.mount_path).parent_path());
  (void)open_private_dir(config.storage.mount_path);

  const auto db = store::Database::open(config.storage.db_path, store::store_migrations());
  store::CodebaseStore codebase_store(*db, config.storage.codebase_path, upload_limits(config));
  store::SandboxRecords sandbox_records(*db);
  store::SessionRecords session_records(*db);
  SpawnerThread spawner;
  AuditTrails audit_trails(config.storage.data_dir + "/audit",
                           {.max_age = config.audit.retention,
                            .max_bytes = config.audit.max_bytes,
                            .max_sandbox_bytes = config.audit.max_sandbox_bytes});
  const auto apply_retention = [&audit_trails, &sandbox_records] {
    audit_trails.apply_retention(
        [&sandbox_records](const std::string& id) { return sandbox_records.get(id).has_value(); });
  };
  apply_retention();
  SandboxServiceOptions options =
      sandbox_options(config, load_or_create_instance_id(config.storage.data_dir));
  options.audit = &audit_trails;
  const DiskQuotaPolicy disk_policy = options.disk;
  SandboxService sandboxes(std::move(options), codebase_store, sandbox_records, session_records,
                           spawner);
  CodebaseService codebases(
      codebase_store, config.storage.import_roots,
      [&sandboxes](const std::string& id, const std::vector<std::string>& paths) {
        sandboxes.base_changed(id, paths);
      },
      [&sandboxes](const google::protobuf::Message& answer, const char* what) {
        sandboxes.hold_caller_answer(answer, what);
      });
  sandboxes.recover();
  Reaper reaper(
      [&sandboxes, &apply_retention] {
        sandboxes.reap_expired();
        apply_retention();
      },
      config.sandbox.cleanup_interval);

  // Every call is admitted by the gate and scoped to its caller (scoped_api.h).
  std::unique_ptr<CallGate> gate;
  if (keys) {
    gate = std::make_unique<Authenticator>(*keys, !config.server.tls.client_ca.empty());
  } else {
    gate = std::make_unique<OpenGate>();
  }
  store::Ownership ownership(*db);
  TenantScope scope(
      ownership,
      [&keys](const std::string& id) -> PrincipalPtr {
        return keys ? keys->principal(id) : nullptr;
      },
      config.audit.max_follows);
  codebase_store.set_extra_room(
      [&scope](const std::string& codebase_id) { return scope.stored_bytes_room(codebase_id); });
  ScopedCodebaseApi scoped_codebases(codebases, scope, codebase_store);
  ScopedSandboxApi scoped_sandboxes(
      sandboxes, scope, sandbox_records, disk_policy,
      [&audit_trails](const std::string& id) { return audit_trails.owner(id); },
      [&sandboxes](const google::protobuf::Message& answer, const char* what) {
        sandboxes.hold_caller_answer(answer, what);
      });

  GrpcTransport grpc_transport(scoped_codebases, scoped_sandboxes, gate.get());
  const int grpc_port = grpc_transport.Start(config.server.grpc_addr,
                                             certificates ? certificates->mirrored() : TlsFiles{});
  RestGateway rest(scoped_codebases, scoped_sandboxes,
                   {.gate = gate.get(),
                    .tls = certificates,
                    .browsers = {.allowed_hosts = config.server.allowed_hosts,
                                 .allowed_origins = config.server.allowed_origins,
                                 .check_host = !keys && !certificates}});
  rest.set_access_log([](const std::string& method, const std::string& path, int status,
                         std::chrono::microseconds duration) {
    log::debug("http.request", {{"method", method},
                                {"path", path},
                                {"status", status},
                                {"ms", static_cast<double>(duration.count()) / 1000.0}});
  });
  const int http_port = rest.listen(config.server.http_addr);
  log::info("server.listening", {{"grpc_port", grpc_port},
                                 {"http_port", http_port},
                                 {"auth", describe_auth_mode(config)},
                                 {"tls", config.server.tls.enabled()}});
  // Only now: removing deleted codebases' files must not delay listening (trash.h).
  codebase_store.start_removals();
  ReloadThread reloader({[&keys](bool force) {
                           if (keys) keys->reload(force);
                         },
                         [&certificates](bool force) {
                           if (certificates) certificates->reload(force);
                         }},
                        kReloadInterval);

  int signal_number = 0;
  while (true) {
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number != SIGHUP) break;
    log::info("server.reload_requested", {{"signal", "SIGHUP"}});
    reloader.poke();
  }
  log::info("server.stopping", {{"signal", strsignal(signal_number)}});
  rest.stop();
  grpc_transport.Stop();
  sandboxes.shutdown();
  log::info("server.stopped");
  return 0;
}

}  // namespace agentfense::server
