#include "supervisor/spawner_thread.h"

#include <exception>
#include <future>

namespace agentfense::supervisor {
namespace {

thread_local bool on_spawner = false;  // work that calls run() again runs in place

}  // namespace

SpawnerThread::SpawnerThread() {
  const std::lock_guard lock(mu_);
  ++idle_;
  threads_.emplace_back([this] { loop(); });
}

SpawnerThread::~SpawnerThread() {
  {
    const std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

std::size_t SpawnerThread::threads() const {
  const std::lock_guard lock(mu_);
  return threads_.size();
}

void SpawnerThread::run(const std::function<void()>& work) {
  if (on_spawner) return work();  // already on one
  std::promise<void> done;
  std::future<void> result = done.get_future();
  {
    const std::lock_guard lock(mu_);
    queue_.push_back({&work, &done});
    // Every idle thread takes one item; what is left over gets a thread of its own.
    if (queue_.size() > idle_) {
      ++idle_;
      threads_.emplace_back([this] { loop(); });
    }
  }
  wake_.notify_one();
  result.get();
}

void SpawnerThread::loop() {
  on_spawner = true;
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    const Item item = queue_.front();
    queue_.pop_front();
    --idle_;
    lock.unlock();
    std::exception_ptr failure;
    try {
      (*item.work)();
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    // Idle again before the caller returns, so that its next call finds this thread
    // (a caller that returned first could add a thread for work this one would take).
    ++idle_;
    if (failure) {
      item.done->set_exception(failure);
    } else {
      item.done->set_value();
    }
  }
}

}  // namespace agentfense::supervisor
