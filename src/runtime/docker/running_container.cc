#include "runtime/docker/running_container.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "common/errors.h"
#include "common/log.h"
#include "runtime/docker/container_cgroups.h"
#include "runtime/docker/container_scope.h"
#include "runtime/docker/engine_errors.h"
#include "runtime/docker/image_volumes.h"

namespace agentfense::runtime::docker {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kStartTimeout{60000};
// An image inspect is a lookup in dockerd's store: a daemon that takes longer is stuck, and
// CreateSandbox should say so (UNAVAILABLE naming the socket) well before a client gives up.
constexpr milliseconds kInspectTimeout{10000};
constexpr milliseconds kRemoveTimeout{30000};
constexpr milliseconds kGonePoll{20};

// "%2F"-style escaping for a query value (a JSON filter).
std::string url_escape(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// Removes `id`, killing it first; "already gone" and "being removed" (AutoRemove won the
// race) end in the same place: wait until dockerd no longer knows it.
void force_remove(const EngineClient& engine, const std::string& id) {
  const auto deadline = std::chrono::steady_clock::now() + kRemoveTimeout;
  const EngineResponse removed =
      engine.call("DELETE", "/containers/" + id + "?force=1&v=1", nullptr, kRemoveTimeout);
  if (removed.status < 300 || removed.status == 404) return;
  if (removed.status != 409)
    throw EngineError(removed.status, "remove container: " + removed.message());
  while (std::chrono::steady_clock::now() < deadline) {
    if (engine.call("GET", "/containers/" + id + "/json").status == 404) return;
    std::this_thread::sleep_for(kGonePoll);
  }
  throw EngineError(409, "container " + id.substr(0, 12) + " is still being removed");
}

}  // namespace

std::vector<std::string> require_image(const EngineClient& engine, const std::string& image) {
  check_image_reference(image);
  const EngineResponse found =
      engine.call("GET", "/images/" + image + "/json", nullptr, kInspectTimeout);
  if (found.status == 404)
    throw ImageNotFound(image, "image '" + image + "' is not available in dockerd at " +
                                   engine.host() +
                                   " (AgentFense never pulls: pull, load or build it there first)");
  if (found.status >= 400)
    throw EngineError(found.status, "inspect image " + image + ": " + found.message());
  return image_volumes(image, nlohmann::json::parse(found.body));
}

std::shared_ptr<RunningContainer> RunningContainer::start(EngineClient engine,
                                                          const ContainerPlan& plan, uid_t user,
                                                          gid_t group) {
  if (user == 0 || group == 0) throw UserError("sandbox commands must not run as root");
  ContainerPlan covered = plan;
  covered.volumes = require_image(engine, plan.image);
  const nlohmann::json body = container_create_body(covered);
  std::shared_ptr<RunningContainer> container(new RunningContainer(std::move(engine)));
  const EngineClient& api = container->engine_;
  EngineResponse created = api.call("POST", "/containers/create?name=" + plan.name, &body);
  if (created.status == 409) {  // a leftover of this sandbox under the same name
    force_remove(api, plan.name);
    created = api.call("POST", "/containers/create?name=" + plan.name, &body);
  }
  if (created.status == 404) require_image(api, plan.image);  // removed meanwhile
  if (created.status >= 400)
    throw EngineError(created.status, "create container: " + created.message());
  container->target_.container_id = nlohmann::json::parse(created.body).at("Id").get<std::string>();
  container->target_.engine = &container->engine_;
  container->target_.user = std::to_string(user) + ":" + std::to_string(group);
  const std::string& id = container->target_.container_id;
  // From here on the destructor removes what exists.
  refuse_host_volumes(plan.image,
                      api.checked("GET", "/containers/" + id + "/json", "inspect container"));
  container->keeper_stdin_ =
      api.hijack("/containers/" + id + "/attach?stream=1&stdin=1", nlohmann::json::object()).socket;
  api.checked("POST", "/containers/" + id + "/start", "start container", nullptr, kStartTimeout);
  container->hold_init();
  container->target_.cgroups = locate_container_cgroups(container->init_pid_);
  container->init().check_alive("locate the container's cgroups");
  // Before any command: each starts through it (container_scope.h).
  container->target_.scope = install_scope_helper(container->init());
  return container;
}

void RunningContainer::hold_init() {
  const std::string& id = target_.container_id;
  const EngineClient& api = engine_;
  const auto inspect = [&] {
    const nlohmann::json state =
        api.checked("GET", "/containers/" + id + "/json", "inspect container").at("State");
    const pid_t pid = state.value("Pid", 0);
    if (!state.value("Running", false) || pid <= 0)
      throw ContainerGone("container " + id.substr(0, 12) + " stopped right after it started: " +
                          state.value("Error", std::string("its keeper exited")));
    return pid;
  };
  init_pid_ = inspect();
  init_pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, init_pid_, 0)));
  if (!init_pidfd_ && errno != ESRCH)
    throw SystemError("pidfd_open of the container's init", errno);
  // The pidfd names whatever held the pid when it was opened: the container's init only
  // if the container still runs with that pid now.
  if (!init_pidfd_ || inspect() != init_pid_)
    throw ContainerGone("container " + id.substr(0, 12) + " stopped right after it started");
}

RunningContainer::~RunningContainer() {
  remove();
}

void RunningContainer::remove() noexcept {
  if (target_.container_id.empty()) return;
  try {
    force_remove(engine_, target_.container_id);
  } catch (const std::exception& error) {
    // The keeper's stdin closes below, which ends the container anyway; AutoRemove or
    // the next start's sweep removes what is left.
    log::warn("docker.remove_failed",
              {{"container", target_.container_id.substr(0, 12)}, {"error", error.what()}});
  }
  keeper_stdin_.reset();
}

ContainerBash RunningContainer::session_bash() {
  const std::lock_guard lock(bash_mu_);
  if (!bash_) bash_ = install_execute_only_bash(init());
  return *bash_;
}

int remove_containers_of(const EngineClient& engine, const std::string& instance) {
  const nlohmann::json filters = {{"label", {std::string(kInstanceLabel) + "=" + instance}}};
  const nlohmann::json listed = engine.checked(
      "GET", "/containers/json?all=1&filters=" + url_escape(filters.dump()), "list containers");
  int removed = 0;
  for (const auto& container : listed) {
    const std::string id = container.value("Id", std::string());
    if (id.empty()) continue;
    try {
      force_remove(engine, id);
      ++removed;
    } catch (const std::exception& error) {
      log::warn("docker.sweep_failed", {{"container", id.substr(0, 12)}, {"error", error.what()}});
    }
  }
  return removed;
}

}  // namespace agentfense::runtime::docker
