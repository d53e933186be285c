#include "runtime/docker/exec_launch.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "common/errors.h"
#include "runtime/docker/engine_errors.h"

namespace agentfense::runtime::docker {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kFirstPoll{1};
constexpr milliseconds kMaxPoll{20};

milliseconds left_until(steady_clock::time_point deadline) {
  return std::max(milliseconds(1),
                  std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()));
}

// 404 (no such container) and 409 (not running) mean the sandbox's container is gone.
[[noreturn]] void rethrow_gone(const EngineError& error, const std::string& container_id) {
  if (error.status() == 404 || error.status() == 409)
    throw ContainerGone("the sandbox's container " + container_id.substr(0, 12) +
                        " is not running any more (" + error.what() + ")");
  throw error;
}

std::string create_exec(const ExecTarget& target, const std::vector<std::string>& argv,
                        steady_clock::time_point deadline) {
  const nlohmann::json body = {{"AttachStdin", true},  {"AttachStdout", true},
                               {"AttachStderr", true}, {"Tty", false},
                               {"Cmd", argv},          {"User", target.user},
                               {"WorkingDir", "/"},    {"Env", nlohmann::json::array()}};
  try {
    const nlohmann::json created =
        target.engine->checked("POST", "/containers/" + target.container_id + "/exec",
                               "create exec", &body, left_until(deadline));
    return created.at("Id").get<std::string>();
  } catch (const EngineError& error) {
    rethrow_gone(error, target.container_id);
  }
}

// Polls exec inspect until `ready(state)` or the deadline; returns the last state.
nlohmann::json poll_exec(const EngineClient& engine, const std::string& id,
                         steady_clock::time_point deadline,
                         const std::function<bool(const nlohmann::json&)>& ready) {
  milliseconds pause = kFirstPoll;
  for (;;) {
    nlohmann::json state = engine.checked("GET", "/exec/" + id + "/json", "inspect exec", nullptr,
                                          left_until(deadline));
    if (ready(state) || steady_clock::now() >= deadline) return state;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, kMaxPoll);
  }
}

}  // namespace

std::optional<int> exec_exit_code(const EngineClient& engine, const std::string& id,
                                  steady_clock::time_point deadline) {
  const nlohmann::json state = poll_exec(
      engine, id, deadline, [](const nlohmann::json& s) { return !s.value("Running", true); });
  if (state.value("Running", true)) return std::nullopt;
  return state.value("ExitCode", 0);
}

Launch launch_exec(const ExecTarget& target, const std::vector<std::string>& argv,
                   const std::string& kind, steady_clock::time_point deadline) {
  const std::string id = create_exec(target, argv, deadline);
  HijackedStream raw;
  try {
    raw = target.engine->hijack("/exec/" + id + "/start", {{"Detach", false}, {"Tty", false}},
                                left_until(deadline));
  } catch (const EngineError& error) {
    rethrow_gone(error, target.container_id);
  }
  auto stream = std::make_unique<ExecStream>(std::move(raw));
  std::string early_stdout, early_stderr;
  stream->set_sink([&](Stream which, std::string_view data) {
    (which == Stream::kStdout ? early_stdout : early_stderr).append(data);
  });
  const bool started = stream->pump_until([&] { return !early_stdout.empty(); }, deadline);
  if (!started || early_stdout.front() != kReadyMarker) {
    if (!stream->ended() && stream->raw_error().empty())
      throw DockerUnavailable("dockerd did not start the command in the container in time");
    // Never got to the prologue: dockerd's explanation and the code it recorded.
    Launch launch;
    launch.failure.message = stream->raw_error() + early_stderr;
    launch.failure.exit_code =
        exec_exit_code(*target.engine, id, steady_clock::now() + std::chrono::seconds(2))
            .value_or(126);
    if (launch.failure.exit_code == 0) launch.failure.exit_code = 126;
    return launch;
  }
  stream->set_sink({});

  const nlohmann::json state = poll_exec(*target.engine, id, deadline, [](const nlohmann::json& s) {
    return s.value("Pid", 0) > 0 || !s.value("Running", true);
  });
  const pid_t pid = state.value("Pid", 0);
  if (pid <= 0) throw ContainerGone("dockerd named no process for the command it started");
  // The process waits at its read: it cannot exit (short of being killed), so the pid
  // is still this process when the pidfd is opened.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) throw SystemError("pidfd_open " + std::to_string(pid), errno);
  auto cgroup = std::make_unique<TrackingCgroup>(target.cgroups, next_tracking_name(kind));
  cgroup->adopt(pid);
  Launch launch;
  launch.exec = LaunchedExec{.id = id,
                             .stream = std::move(stream),
                             .cgroup = std::move(cgroup),
                             .pid = pid,
                             .pidfd = std::move(pidfd)};
  return launch;
}

}  // namespace agentfense::runtime::docker
