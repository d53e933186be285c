#include "supervisor/spawner_thread.h"

#include <exception>
#include <future>

namespace agentfense::supervisor {

SpawnerThread::SpawnerThread() : thread_([this] { loop(); }) {}

SpawnerThread::~SpawnerThread() {
  {
    const std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void SpawnerThread::run(const std::function<void()>& work) {
  if (std::this_thread::get_id() == thread_.get_id()) return work();  // already on it
  std::promise<void> done;
  std::future<void> result = done.get_future();
  {
    const std::lock_guard lock(mu_);
    queue_.push_back([&] {
      try {
        work();
        done.set_value();
      } catch (...) {
        done.set_exception(std::current_exception());
      }
    });
  }
  wake_.notify_one();
  result.get();
}

void SpawnerThread::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    std::function<void()> work = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    work();
    lock.lock();
  }
}

}  // namespace agentfense::supervisor
