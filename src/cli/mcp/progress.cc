#include "cli/mcp/progress.h"

namespace agentfense::cli::mcp {

void ProgressReporter::report(double progress, double total, const std::string& message) const {
  if (!wanted()) return;
  nlohmann::json params = {{"progressToken", token_}, {"progress", progress}};
  if (total > 0) params["total"] = total;
  if (!message.empty()) params["message"] = message;
  notify_({{"jsonrpc", "2.0"}, {"method", "notifications/progress"}, {"params", params}});
}

ProgressTicker::ProgressTicker(const ProgressReporter& reporter, double total_seconds,
                               std::function<std::string()> describe,
                               std::chrono::milliseconds interval)
    : reporter_(reporter),
      total_(total_seconds),
      describe_(std::move(describe)),
      interval_(interval) {
  if (reporter_.wanted()) thread_ = std::thread([this] { loop(); });
}

ProgressTicker::~ProgressTicker() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ProgressTicker::loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return done_; })) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    lock.unlock();
    reporter_.report(elapsed, total_, describe_ ? describe_() : "");
    lock.lock();
  }
}

}  // namespace agentfense::cli::mcp
