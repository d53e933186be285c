// The bwrap runtime behind the Boundary interface: run_sandboxed and ShellSession as they are.
#include "runtime/boundary.h"

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
  ExecResult run(const ExecSpec& spec) override { return run_sandboxed(spec); }
  std::unique_ptr<CommandSession> open_session(SessionSpec spec) override {
    return std::make_unique<BwrapSession>(std::move(spec));
  }
};

}  // namespace

std::unique_ptr<Boundary> make_bwrap_boundary() {
  return std::make_unique<BwrapBoundary>();
}

}  // namespace agentfense::runtime
