// The bwrap runtime behind the Boundary interface: run_sandboxed and ShellSession as they
// are, or (for a server's long-lived sandbox) one-shot commands through an ExecLauncher
// started in the sandbox's boundary, with run_sandboxed as the fallback whenever the
// launcher cannot run a command.
#include <unistd.h>

#include <mutex>

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
  explicit BwrapBoundary(bool reuse) : reuse_(reuse && ::geteuid() == 0) {}

  ExecResult run(const ExecSpec& spec) override {
    if (!reuse_ || spec.network || spec.inherit_stdio || spec.workspace_fd < 0)
      return run_sandboxed(spec);
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
  std::shared_ptr<ExecLauncher> current_launcher(const ExecSpec& spec) {
    const std::lock_guard lock(mu_);
    if (launcher_ && launcher_->alive() && launcher_->fits(spec)) return launcher_;
    launcher_.reset();
    try {
      launcher_ = ExecLauncher::start(spec);
    } catch (const std::exception& error) {
      log::warn("exec.launcher_unavailable", {{"error", error.what()}});
    }
    return launcher_;
  }

  const bool reuse_;
  std::mutex mu_;
  std::shared_ptr<ExecLauncher> launcher_;
};

}  // namespace

std::unique_ptr<Boundary> make_bwrap_boundary(bool reuse_boundary) {
  return std::make_unique<BwrapBoundary>(reuse_boundary);
}

}  // namespace agentfense::runtime
