// A helper thread that watches for something for as long as its owner lives: it runs
// `watch(stop_fd)`, which must return once `stop_fd` becomes readable; the destructor
// makes it readable and joins. Used to notice a client that went away while a command
// runs (grpc_cancel_watch.h, rest_disconnect_watch.h).
#pragma once

#include <functional>
#include <thread>

#include "common/unique_fd.h"

namespace agentfense::server {

class WatchThread {
 public:
  explicit WatchThread(std::function<void(int stop_fd)> watch);
  WatchThread(const WatchThread&) = delete;
  WatchThread& operator=(const WatchThread&) = delete;
  ~WatchThread();

 private:
  UniqueFd stop_;  // eventfd
  std::thread thread_;
};

}  // namespace agentfense::server
