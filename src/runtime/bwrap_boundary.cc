// The bwrap runtime behind the Boundary interface: run_sandboxed and ShellSession as they
// are, or (for a server's long-lived sandbox) one-shot commands through an ExecLauncher
// started in the sandbox's boundary, with run_sandboxed as the fallback whenever the
// launcher cannot run a command. The launcher can start before the sandbox's workspace
// is mounted (prepare_before_workspace) and get it attached once it is (prepare): its
// bwrap start and first cgroup move then overlap the fs process's start. With sandbox
// limits, every command's and session's cgroup sits in one cgroup of the sandbox's.
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "common/log.h"
#include "runtime/boundary.h"
#include "runtime/cgroup.h"
#include "runtime/exec_launcher.h"

namespace agentfense::runtime {
namespace {

class BwrapSession final : public CommandSession {
 public:
  explicit BwrapSession(SessionSpec spec) : shell_(std::move(spec)) {}
  ExecResult exec(const std::string& command, std::chrono::milliseconds timeout,
                  const OutputCallback& on_output, int cancel_fd) override {
    return shell_.exec(command, timeout, on_output, cancel_fd);
  }
  bool alive() const override { return shell_.alive(); }
  void close() override { shell_.close(); }

 private:
  ShellSession shell_;
};

class BwrapBoundary final : public Boundary {
 public:
  explicit BwrapBoundary(BwrapBoundaryPlan plan)
      : reuse_(plan.reuse_boundary && ::geteuid() == 0),
        sandbox_limits_(std::move(plan.sandbox_limits)) {
    if (reuse_) starter_ = std::thread([this] { start_loop(); });
  }
  ~BwrapBoundary() override {
    {
      const std::lock_guard lock(mu_);
      stopping_ = true;
    }
    changed_.notify_all();
    if (starter_.joinable()) starter_.join();
  }

  void prepare(const ExecSpec& spec) override {
    if (!uses_launcher(spec)) return;
    const std::lock_guard lock(mu_);
    // A launcher started before the workspace (or still starting so) gets it attached.
    const bool early = awaiting_workspace() || (wanted_ && wanted_->workspace_fd < 0) ||
                       (starting_ && starting_before_workspace_);
    if (!early && (launcher_ || wanted_ || starting_)) return;
    wanted_ = spec;
    changed_.notify_all();
  }

  void prepare_before_workspace(const ExecSpec& spec) override {
    if (!reuse_ || spec.network || spec.inherit_stdio) return;
    const std::lock_guard lock(mu_);
    if (launcher_ || wanted_ || starting_) return;
    wanted_ = spec;
    wanted_->workspace_fd = -1;
    changed_.notify_all();
  }

  ExecResult run(const ExecSpec& caller_spec) override {
    ExecSpec spec = caller_spec;
    spec.cgroup_parent = sandbox_cgroup();
    if (!uses_launcher(spec)) return run_sandboxed(spec);
    // A launcher killed by a command is replaced once per command; after that, or when
    // none starts, the command gets a boundary of its own.
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::shared_ptr<ExecLauncher> launcher = current_launcher(spec);
      if (!launcher) break;
      if (std::optional<ExecResult> result = launcher->run(spec)) return std::move(*result);
    }
    return run_sandboxed(spec);
  }

  std::unique_ptr<CommandSession> open_session(SessionSpec spec) override {
    spec.cgroup_parent = sandbox_cgroup();
    return std::make_unique<BwrapSession>(std::move(spec));
  }

 private:
  // The sandbox's cgroup, made on first use; null without sandbox limits, or when no
  // cgroup is wanted (rootless without limits, as for a command's own). A failure is
  // thrown to the command or session that needed it, and the next one tries again.
  std::shared_ptr<const SandboxCgroup> sandbox_cgroup() {
    if (!sandbox_limits_) return nullptr;
    const std::lock_guard lock(cgroup_mu_);
    if (!sandbox_cgroup_ && (::geteuid() == 0 || has_limits(*sandbox_limits_)))
      sandbox_cgroup_ = SandboxCgroup::create_for_sandbox(*sandbox_limits_);
    return sandbox_cgroup_;
  }

  bool uses_launcher(const ExecSpec& spec) const {
    return reuse_ && !spec.network && !spec.inherit_stdio && spec.workspace_fd >= 0;
  }

  // A running launcher for commands like `spec`, started (on starter_) when there is
  // none; null when it cannot start.
  std::shared_ptr<ExecLauncher> current_launcher(const ExecSpec& spec) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [this] { return !starting_ && !wanted_; });
    if (launcher_ && launcher_->alive() && launcher_->fits(spec)) return launcher_;
    // One waiting for its workspace stays: the starter attaches this one to it.
    std::shared_ptr<ExecLauncher> old;
    if (!awaiting_workspace()) old = std::move(launcher_);
    wanted_ = spec;
    changed_.notify_all();
    changed_.wait(lock, [this] { return stopping_ || (!starting_ && !wanted_); });
    lock.unlock();
    old.reset();  // kills what is left of a lost launcher, outside the lock
    lock.lock();
    return launcher_;
  }

  // Launchers are forked here, on a thread that lives as long as this boundary: the
  // kernel sends PR_SET_PDEATHSIG (armed for bwrap) when the forking *thread* exits.
  void start_loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      changed_.wait(lock, [this] { return stopping_ || wanted_; });
      if (stopping_) break;
      ExecSpec spec = std::move(*wanted_);
      wanted_.reset();
      starting_ = true;
      starting_before_workspace_ = spec.workspace_fd < 0;
      std::shared_ptr<ExecLauncher> early = awaiting_workspace() ? launcher_ : nullptr;
      lock.unlock();
      std::shared_ptr<ExecLauncher> launcher;
      try {
        // Made here, off the caller's thread, for the launcher's spares; run() finds it.
        spec.cgroup_parent = sandbox_cgroup();
        launcher = start_or_attach(spec, early);
      } catch (const std::exception& error) {
        // run() then tries again, and the command reports the failure.
        log::warn("exec.sandbox_cgroup_unavailable", {{"error", error.what()}});
      }
      early.reset();
      lock.lock();
      std::shared_ptr<ExecLauncher> replaced = std::exchange(launcher_, std::move(launcher));
      starting_ = false;
      changed_.notify_all();
      if (replaced && replaced != launcher_) {
        lock.unlock();
        replaced.reset();  // a launcher that could not take its workspace: killed
        lock.lock();
      }
    }
    std::shared_ptr<ExecLauncher> last = std::move(launcher_);
    lock.unlock();
    last.reset();  // ended before this thread, whose exit would kill it anyway
  }

  // The launcher for `spec`: `early` (started before the workspace existed) with the
  // workspace attached when that works, else a new one; null when none starts.
  static std::shared_ptr<ExecLauncher> start_or_attach(const ExecSpec& spec,
                                                       const std::shared_ptr<ExecLauncher>& early) {
    try {
      if (spec.workspace_fd < 0) return ExecLauncher::start_before_workspace(spec);
      if (early && early->alive()) {
        try {
          early->attach_workspace(spec.workspace_fd);
          log::debug("exec.workspace_attached", {{"launcher_pid", early->pid()}});
          return early;
        } catch (const std::exception& error) {
          log::warn("exec.workspace_attach_failed", {{"error", error.what()}});
        }
      }
      return ExecLauncher::start(spec);
    } catch (const std::exception& error) {
      log::warn("exec.launcher_unavailable", {{"error", error.what()}});
      return nullptr;
    }
  }

  bool awaiting_workspace() const { return launcher_ && launcher_->awaiting_workspace(); }

  const bool reuse_;
  const std::optional<Limits> sandbox_limits_;
  std::mutex cgroup_mu_;  // never held with mu_
  std::shared_ptr<const SandboxCgroup> sandbox_cgroup_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::optional<ExecSpec> wanted_;  // a launcher to start for these commands
  bool starting_ = false;
  bool starting_before_workspace_ = false;  // what starting_ starts has no workspace yet
  bool stopping_ = false;
  std::shared_ptr<ExecLauncher> launcher_;
  std::thread starter_;  // last: started once the members above exist
};

}  // namespace

std::unique_ptr<Boundary> make_bwrap_boundary(BwrapBoundaryPlan plan) {
  return std::make_unique<BwrapBoundary>(std::move(plan));
}

}  // namespace agentfense::runtime
