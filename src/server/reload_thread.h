// Re-reads the files the running server follows (the keys file, the REST gateway's TLS
// certificates) while it runs: every `interval` each task checks whether its files changed,
// and poke() (SIGHUP) makes every task re-read at once. Tasks never throw (they log).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace agentfense::server {

class ReloadThread {
 public:
  using Task = std::function<void(bool force)>;
  ReloadThread(std::vector<Task> tasks, std::chrono::milliseconds interval);
  ~ReloadThread();
  ReloadThread(const ReloadThread&) = delete;
  ReloadThread& operator=(const ReloadThread&) = delete;

  void poke();

 private:
  void run();

  std::vector<Task> tasks_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool poked_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace agentfense::server
