#include "server/rest_connection_pool.h"

#include <optional>

namespace agentfense::server {
namespace {

thread_local std::optional<std::chrono::steady_clock::time_point> serving_accepted_at;

}  // namespace

RestConnectionPool::RestConnectionPool(std::size_t workers, std::size_t max_queued)
    : max_queued_(max_queued) {
  workers_.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) workers_.emplace_back([this] { work(); });
}

RestConnectionPool::~RestConnectionPool() {
  shutdown();
}

void RestConnectionPool::enqueue(std::function<void()> connection) {
  std::unique_lock lock(mu_);
  has_room_.wait(lock, [this] { return queued_.size() < max_queued_ || never_wait_; });
  // During shutdown the connection is still served (and so closed) by a worker.
  queued_.push_back({std::move(connection), std::chrono::steady_clock::now()});
  has_work_.notify_one();
}

void RestConnectionPool::stopping() {
  {
    std::lock_guard lock(mu_);
    never_wait_ = true;
  }
  has_room_.notify_all();
}

void RestConnectionPool::shutdown() {
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    never_wait_ = true;
  }
  has_work_.notify_all();
  has_room_.notify_all();
  for (std::thread& worker : workers_)
    if (worker.joinable()) worker.join();
}

void RestConnectionPool::work() {
  for (;;) {
    Queued next;
    {
      std::unique_lock lock(mu_);
      has_work_.wait(lock, [this] { return !queued_.empty() || shutting_down_; });
      if (queued_.empty()) return;  // shutting down with nothing left
      next = std::move(queued_.front());
      queued_.pop_front();
      has_room_.notify_one();
    }
    serving_accepted_at = next.accepted;
    next.connection();
    serving_accepted_at.reset();
  }
}

std::chrono::steady_clock::time_point RestConnectionPool::accepted_at() {
  return serving_accepted_at.value_or(std::chrono::steady_clock::now());
}

}  // namespace agentfense::server
