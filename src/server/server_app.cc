// Start-up is a linear chain; everything constructed is RAII and torn down in reverse:
//   logging -> directories -> database -> stores -> services -> recover() -> reaper ->
//   gRPC -> REST -> wait for a signal -> REST stop -> gRPC stop -> sandboxes stopped.
#include "server/server_app.h"

#include <signal.h>
#include <sys/stat.h>

#include <condition_variable>
#include <filesystem>
#include <thread>

#include "common/errors.h"
#include "common/log.h"
#include "server/codebase_service.h"
#include "server/grpc_service.h"
#include "server/rest_gateway.h"
#include "server/sandbox_service.h"
#include "server/server_instance.h"
#include "server/spawner_thread.h"
#include "store/codebase_store.h"
#include "store/database.h"
#include "store/sandbox_records.h"
#include "store/schema.h"
#include "store/session_records.h"
#include "supervisor/run_dir.h"
#include "supervisor/sibling_binary.h"

namespace agentfense::server {
namespace {

// Expired sandboxes are destroyed every sandbox.cleanup_interval.
class Reaper {
 public:
  Reaper(SandboxService& service, std::chrono::milliseconds interval)
      : thread_([this, &service, interval] {
          std::unique_lock lock(mu_);
          while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
            lock.unlock();
            try {
              service.reap_expired();
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

// Blocks SIGTERM/SIGINT in every thread (call before any thread starts) and waits.
sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
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
  return {
      .fs_program = supervisor::sibling_binary("agentfense"),
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
      .disk = {.max_bytes = config.sandbox.disk_bytes, .max_inodes = config.sandbox.disk_inodes}};
}

store::UploadLimits upload_limits(const Config& config) {
  const Config::Storage& s = config.storage;
  return {.max_upload_bytes = s.max_upload_bytes,
          .max_codebase_bytes = s.max_codebase_bytes,
          .max_archive_bytes = s.max_archive_bytes,
          .max_archive_entries = s.max_archive_entries,
          .max_archive_ratio = s.max_archive_ratio};
}

}  // namespace

int run_server(const Config& config) {
  const sigset_t signals = shutdown_signals();
  log::configure(config.logging.level, config.logging.format);
  log::info("server.config", describe_fields(config));
  if (::geteuid() != 0)
    throw UserError("agentfense server must run as root (FUSE mounts, cgroups)");
  // The data dir holds every sandbox's write layer: nobody else may read it.
  ensure_dir(config.storage.data_dir, 0700);
  ensure_dir(config.storage.codebase_path, 0755);
  std::filesystem::create_directories(
      std::filesystem::path(config.storage.mount_path).parent_path());
  supervisor::make_private_dir(config.storage.mount_path);

  const auto db = store::Database::open(config.storage.db_path, store::store_migrations());
  store::CodebaseStore codebase_store(*db, config.storage.codebase_path, upload_limits(config));
  store::SandboxRecords sandbox_records(*db);
  store::SessionRecords session_records(*db);
  SpawnerThread spawner;
  SandboxService sandboxes(
      sandbox_options(config, load_or_create_instance_id(config.storage.data_dir)), codebase_store,
      sandbox_records, session_records, spawner);
  CodebaseService codebases(
      codebase_store, config.storage.import_roots,
      [&sandboxes](const std::string& id, const std::vector<std::string>& paths) {
        sandboxes.base_changed(id, paths);
      });
  sandboxes.recover();
  Reaper reaper(sandboxes, config.sandbox.cleanup_interval);

  GrpcTransport grpc_transport(codebases, sandboxes);
  const int grpc_port = grpc_transport.Start(config.server.grpc_addr);
  RestGateway rest(codebases, sandboxes);
  rest.set_access_log([](const std::string& method, const std::string& path, int status,
                         std::chrono::microseconds duration) {
    log::debug("http.request", {{"method", method},
                                {"path", path},
                                {"status", status},
                                {"ms", static_cast<double>(duration.count()) / 1000.0}});
  });
  const int http_port = rest.listen(config.server.http_addr);
  log::info("server.listening", {{"grpc_port", grpc_port}, {"http_port", http_port}});

  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  log::info("server.stopping", {{"signal", strsignal(signal_number)}});
  rest.stop();
  grpc_transport.Stop();
  sandboxes.shutdown();
  log::info("server.stopped");
  return 0;
}

}  // namespace agentfense::server
