// The REST gateway's connection workers. httplib's own pool queues every accepted
// connection without bound, each holding a file descriptor: connections that send their
// headers slowly held every worker, and queued ones reached the server's 20,000 open
// files, after which a tenant's sandbox could not start ("Too many open files"). Here
// the accept loop waits while `max_queued` connections wait for a worker, so the kernel's
// listen backlog (no descriptors of ours) holds the rest.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace agentfense::server {

class RestConnectionPool : public httplib::TaskQueue {
 public:
  RestConnectionPool(std::size_t workers, std::size_t max_queued);
  RestConnectionPool(const RestConnectionPool&) = delete;
  RestConnectionPool& operator=(const RestConnectionPool&) = delete;
  ~RestConnectionPool() override;

  // Blocks the caller (httplib's accept loop) while the queue is full, until stopping().
  void enqueue(std::function<void()> connection) override;
  // The gateway is stopping: the accept loop must not wait for room any more, or it
  // would never see the stop.
  void stopping();
  // Runs what is queued, then joins the workers.
  void shutdown() override;

  // When the connection the calling worker serves was accepted (queued): the first
  // request head's deadline counts from then (rest_connection.h), or connections that
  // waited in the queue past it would each hold a worker for a whole deadline more.
  // now() on any other thread.
  static std::chrono::steady_clock::time_point accepted_at();

 private:
  void work();

  const std::size_t max_queued_;
  std::mutex mu_;
  std::condition_variable has_work_;
  std::condition_variable has_room_;
  struct Queued {
    std::function<void()> connection;
    std::chrono::steady_clock::time_point accepted;
  };
  std::deque<Queued> queued_;
  bool shutting_down_ = false;  // workers leave once the queue is empty
  bool never_wait_ = false;     // enqueue no longer waits for room
  std::vector<std::thread> workers_;
};

}  // namespace agentfense::server
