// One sandbox's container while it runs (RAII): started with the hardened configuration
// of container_config.h, its keeper's stdin held attached (the container dies with the
// process holding this object, even after kill -9), removed when this object goes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "runtime/docker/container_bash.h"
#include "runtime/docker/container_config.h"
#include "runtime/docker/container_init.h"
#include "runtime/docker/engine_client.h"
#include "runtime/docker/exec_launch.h"

namespace agentfense::runtime::docker {

class RunningContainer {
 public:
  // `user`/`group` are what every command runs as. Throws ImageNotFound (the image is not
  // in dockerd's store: never pulled here), DockerUnavailable, EngineError, UserError.
  static std::shared_ptr<RunningContainer> start(EngineClient engine, const ContainerPlan& plan,
                                                 uid_t user, gid_t group);
  RunningContainer(const RunningContainer&) = delete;
  RunningContainer& operator=(const RunningContainer&) = delete;
  ~RunningContainer();  // force-removes the container; never throws

  const ExecTarget& exec_target() const { return target_; }
  const EngineClient& engine() const { return engine_; }
  const std::string& id() const { return target_.container_id; }
  ContainerInit init() const { return {init_pid_, init_pidfd_.get()}; }
  // The execute-only copy of the image's bash, made on first use (container_bash.h).
  ContainerBash session_bash();

 private:
  explicit RunningContainer(EngineClient engine) : engine_(std::move(engine)) {}
  // Learns the started container's init and holds it by a pidfd (container_init.h).
  void hold_init();
  void remove() noexcept;

  EngineClient engine_;
  ExecTarget target_;
  pid_t init_pid_ = -1;
  UniqueFd init_pidfd_;    // container_init.h
  UniqueFd keeper_stdin_;  // closing it ends the container
  std::mutex bash_mu_;
  std::optional<ContainerBash> bash_;
};

// Throws ImageNotFound unless dockerd has `image`, UserError for an image whose VOLUMEs
// cannot be covered (image_volumes.h). Returns those VOLUMEs' paths.
std::vector<std::string> require_image(const EngineClient& engine, const std::string& image);

// Force-removes every container labelled with `instance` (what a server or CLI process
// that died left behind). Returns how many; errors for single containers are skipped.
int remove_containers_of(const EngineClient& engine, const std::string& instance);

}  // namespace agentfense::runtime::docker
