#include "server/reload_thread.h"

#include "common/log.h"

namespace agentfense::server {

ReloadThread::ReloadThread(std::vector<Task> tasks, std::chrono::milliseconds interval)
    : tasks_(std::move(tasks)), interval_(interval), thread_([this] { run(); }) {}

ReloadThread::~ReloadThread() {
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void ReloadThread::poke() {
  {
    const std::lock_guard lock(mutex_);
    poked_ = true;
  }
  wake_.notify_one();
}

void ReloadThread::run() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, interval_, [this] { return stop_ || poked_; });
    if (stop_) return;
    const bool force = poked_;
    poked_ = false;
    lock.unlock();
    for (const Task& task : tasks_) {
      try {
        task(force);
      } catch (const std::exception& error) {
        log::error("reload.failed", {{"error", error.what()}});
      }
    }
    lock.lock();
  }
}

}  // namespace agentfense::server
