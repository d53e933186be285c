// A bounded hand-off of messages between two threads, used where the REST gateway must
// join a push-style side to a pull-style side without buffering a whole body: httplib
// pushes request bytes while UploadFiles pulls them with `next`, and the Api pushes
// with `emit` while httplib's content provider pulls response data.
//
// Either side may stop early: the consumer Cancel()s (client gone) so Push returns
// false; the producer Finish()es, optionally with the exception that ended it, so Pop
// returns nullopt once the buffered items are drained.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>

namespace agentfense::server {

template <typename T>
class Handoff {
 public:
  explicit Handoff(std::size_t capacity) : capacity_(capacity) {}

  // Blocks while full. False once the consumer cancelled (the item is dropped).
  bool Push(T item) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return cancelled_ || items_.size() < capacity_; });
    if (cancelled_) return false;
    items_.push_back(std::move(item));
    changed_.notify_all();
    return true;
  }

  // No more items; `error` (if any) is what ended the producer early.
  void Finish(std::exception_ptr error = nullptr) {
    std::lock_guard lock(mutex_);
    finished_ = true;
    error_ = error;
    changed_.notify_all();
  }

  // Blocks until an item or the end. nullopt at the end or after Cancel().
  std::optional<T> Pop() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return cancelled_ || finished_ || !items_.empty(); });
    if (cancelled_ || items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    changed_.notify_all();
    return item;
  }

  void Cancel() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    items_.clear();
    changed_.notify_all();
  }

  bool cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }

  // The producer's exception, once Pop has returned nullopt.
  std::exception_ptr error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<T> items_;
  bool finished_ = false;
  bool cancelled_ = false;
  std::exception_ptr error_;
};

}  // namespace agentfense::server
