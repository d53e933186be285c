#include "server/watch_thread.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "common/errors.h"

namespace agentfense::server {

WatchThread::WatchThread(std::function<void(int stop_fd)> watch)
    : stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!stop_) throw SystemError("eventfd", errno);
  thread_ = std::thread([watch = std::move(watch), stop_fd = stop_.get()] { watch(stop_fd); });
}

WatchThread::~WatchThread() {
  const std::uint64_t one = 1;
  // Cannot fail for a fresh eventfd (the counter is far from overflowing).
  (void)::write(stop_.get(), &one, sizeof one);
  thread_.join();
}

}  // namespace agentfense::server
