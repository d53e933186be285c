// `agentfense prewarm` (hidden): the warm-up walker the fs process starts for a server
// sandbox (fs/prewarm_child.h). A linear chain of checked steps, each fatal: take the
// sandbox's host ids (read back), no new privileges, idle CPU and I/O priority; then
// walk the mount handed over as fd 3 and log the totals.
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cli/commands.h"
#include "common/errors.h"
#include "common/idle_io.h"
#include "common/log.h"
#include "fs/prewarm_child.h"
#include "fs/prewarm_walk.h"
#include "runtime/credentials.h"

namespace agentfense::cli {
namespace {

constexpr auto kStartDelay = std::chrono::milliseconds(500);

struct PrewarmArgs {
  uid_t uid = 0;
  gid_t gid = 0;
};

void check_step(const ChildFailure& failure) {
  if (failure.step != nullptr)
    throw SystemError(std::string("prewarm: ") + failure.step, failure.error);
}

// The walk may only use what nobody else wants: it must never slow the agent's commands.
void become_idle() {
  check_syscall(::setpriority(PRIO_PROCESS, 0, 19), "prewarm: setpriority");
  const sched_param none{};
  check_syscall(::sched_setscheduler(0, SCHED_IDLE, &none), "prewarm: SCHED_IDLE");
  check_syscall(set_idle_io_priority(), "prewarm: ioprio idle");
}

int prewarm(const PrewarmArgs& args) {
  if (::geteuid() == 0) check_step(runtime::drop_privileges(args.uid, args.gid));
  check_step(runtime::enforce_no_new_privs());
  become_idle();
  // A client often runs its first command right after StartSandbox returns; the walk's
  // requests would compete with it for the fs process's threads. Commands that arrive
  // later (an agent's first model turn) still find the walk done: 20,000 files take
  // about 1.2 s here.
  std::this_thread::sleep_for(kStartDelay);
  const auto started = std::chrono::steady_clock::now();
  const fs::PrewarmTotals totals = fs::prewarm_walk(fs::kPrewarmRootFd, fs::PrewarmBudget{});
  const auto took = std::chrono::steady_clock::now() - started;
  log::info("fs.prewarm_done", {{"ms", std::chrono::duration<double, std::milli>(took).count()},
                                {"directories", totals.directories},
                                {"files_read", totals.files_read},
                                {"bytes_read", totals.bytes_read},
                                {"complete", totals.complete}});
  return 0;
}

}  // namespace

Command add_prewarm_command(CLI::App& app) {
  auto args = std::make_shared<PrewarmArgs>();
  CLI::App* cmd = app.add_subcommand("prewarm", "Warm a mount's kernel caches (internal)");
  cmd->group("");  // started by the fs process only: not listed in --help
  cmd->add_option("--uid", args->uid, "Host uid to walk as")->required();
  cmd->add_option("--gid", args->gid, "Host gid to walk as")->required();
  return [args] { return prewarm(*args); };
}

}  // namespace agentfense::cli
