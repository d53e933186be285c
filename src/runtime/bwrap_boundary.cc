// The bwrap runtime behind the Boundary interface: run_sandboxed and ShellSession as they
// are, or (for a server's long-lived sandbox) one-shot commands through an ExecLauncher
// started in the sandbox's boundary, with run_sandboxed as the fallback whenever the
// launcher cannot run a command.
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "common/log.h"
#include "runtime/boundary.h"
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
  explicit BwrapBoundary(bool reuse) : reuse_(reuse && ::geteuid() == 0) {
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
    if (launcher_ || wanted_ || starting_) return;
    wanted_ = spec;
    changed_.notify_all();
  }

  ExecResult run(const ExecSpec& spec) override {
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
    return std::make_unique<BwrapSession>(std::move(spec));
  }

 private:
  bool uses_launcher(const ExecSpec& spec) const {
    return reuse_ && !spec.network && !spec.inherit_stdio && spec.workspace_fd >= 0;
  }

  // A running launcher for commands like `spec`, started (on starter_) when there is
  // none; null when it cannot start.
  std::shared_ptr<ExecLauncher> current_launcher(const ExecSpec& spec) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [this] { return !starting_ && !wanted_; });
    if (launcher_ && launcher_->alive() && launcher_->fits(spec)) return launcher_;
    std::shared_ptr<ExecLauncher> old = std::move(launcher_);
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
      const ExecSpec spec = std::move(*wanted_);
      wanted_.reset();
      starting_ = true;
      lock.unlock();
      std::shared_ptr<ExecLauncher> launcher;
      try {
        launcher = ExecLauncher::start(spec);
      } catch (const std::exception& error) {
        log::warn("exec.launcher_unavailable", {{"error", error.what()}});
      }
      lock.lock();
      launcher_ = std::move(launcher);
      starting_ = false;
      changed_.notify_all();
    }
    std::shared_ptr<ExecLauncher> last = std::move(launcher_);
    lock.unlock();
    last.reset();  // ended before this thread, whose exit would kill it anyway
  }

  const bool reuse_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::optional<ExecSpec> wanted_;  // a launcher to start for these commands
  bool starting_ = false;
  bool stopping_ = false;
  std::shared_ptr<ExecLauncher> launcher_;
  std::thread starter_;  // last: started once the members above exist
};

}  // namespace

std::unique_ptr<Boundary> make_bwrap_boundary(bool reuse_boundary) {
  return std::make_unique<BwrapBoundary>(reuse_boundary);
}

}  // namespace agentfense::runtime
