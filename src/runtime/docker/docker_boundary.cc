#include "runtime/docker/docker_boundary.h"

#include "runtime/docker/container_exec.h"
#include "runtime/docker/docker_session.h"
#include "runtime/docker/running_container.h"
#include "supervisor/host_ids.h"

namespace agentfense::runtime::docker {
namespace {

class DockerBoundary final : public Boundary {
 public:
  explicit DockerBoundary(const DockerSandboxPlan& plan)
      // Leased before the container starts, returned after it is gone (members are
      // destroyed in reverse order).
      : keeper_ids_(supervisor::HostIdLease::acquire(plan.id_range)),
        container_(RunningContainer::start(EngineClient(plan.host), container_plan(plan), plan.uid,
                                           plan.gid)) {}

  ExecResult run(const ExecSpec& spec) override {
    return run_in_container(container_->exec_target(), spec);
  }

  std::unique_ptr<CommandSession> open_session(SessionSpec spec) override {
    return std::make_unique<DockerSession>(container_, std::move(spec));
  }

 private:
  ContainerPlan container_plan(const DockerSandboxPlan& plan) const {
    return {.image = plan.image,
            .name = plan.container_name,
            .sandbox_id = plan.sandbox_id,
            .instance = plan.instance,
            .workspace = plan.workspace,
            .keeper_uid = keeper_ids_.uid(),
            .keeper_gid = keeper_ids_.gid(),
            .limits = plan.limits,
            .network_mode = plan.network_mode};
  }

  supervisor::HostIdLease keeper_ids_;
  std::shared_ptr<RunningContainer> container_;
};

}  // namespace

std::unique_ptr<Boundary> make_docker_boundary(const DockerSandboxPlan& plan) {
  return std::make_unique<DockerBoundary>(plan);
}

}  // namespace agentfense::runtime::docker
