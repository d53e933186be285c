#include "server/send_watchdog.h"

namespace agentfense::server {

SendWatchdog::SendWatchdog() : thread_([this] { run(); }) {}

SendWatchdog::~SendWatchdog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

SendWatchdog::Armed SendWatchdog::arm(grpc::ServerContext* context, Clock::time_point deadline) {
  std::lock_guard lock(mu_);
  const std::uint64_t id = next_id_++;
  armed_.emplace(id, std::pair{deadline, context});
  deadlines_.emplace(deadline, id);
  // A stream arms one deadline per message: the thread is woken only when it would sleep
  // past this one, not for each.
  if (deadline < wake_at_) changed_.notify_all();
  return Armed(this, id);
}

SendWatchdog::Armed& SendWatchdog::Armed::operator=(Armed&& other) noexcept {
  if (this != &other) {
    disarm();
    watchdog_ = std::exchange(other.watchdog_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

void SendWatchdog::Armed::disarm() {
  if (!watchdog_) return;
  std::lock_guard lock(watchdog_->mu_);
  if (const auto it = watchdog_->armed_.find(id_); it != watchdog_->armed_.end()) {
    watchdog_->deadlines_.erase({it->second.first, id_});
    watchdog_->armed_.erase(it);
  }
  watchdog_ = nullptr;
}

void SendWatchdog::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const Clock::time_point now = Clock::now();
    if (deadlines_.empty() || now < deadlines_.begin()->first) {
      wake_at_ = deadlines_.empty() ? now + kIdleTick : deadlines_.begin()->first;
      changed_.wait_until(lock, wake_at_);
      continue;
    }
    const std::uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    // Under mu_: the call's Armed, which its handler holds, cannot go meanwhile.
    // TryCancel is safe from any thread while the call lives.
    armed_.at(id).second->TryCancel();
    armed_.erase(id);
  }
}

}  // namespace agentfense::server
