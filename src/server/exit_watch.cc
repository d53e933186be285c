#include "server/exit_watch.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common/errors.h"
#include "common/log.h"

namespace agentfense::server {
namespace {

void add_readable(int epoll, int fd) {
  epoll_event event{.events = EPOLLIN, .data = {.fd = fd}};
  check_syscall(::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event), "epoll_ctl");
}

}  // namespace

ExitWatch::ExitWatch()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!epoll_) throw SystemError("epoll_create1", errno);
  if (!wake_) throw SystemError("eventfd", errno);
  add_readable(epoll_.get(), wake_.get());
  thread_ = std::thread([this] { run(); });
}

ExitWatch::~ExitWatch() {
  const std::uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof one) != sizeof one) {
    // An eventfd write only fails on overflow; nothing else can stop the thread.
    log::error("exit_watch.stop_failed", {{"error", std::strerror(errno)}});
  }
  thread_.join();
}

void ExitWatch::watch(int pidfd, OnExit on_exit) {
  UniqueFd fd(check_syscall(::fcntl(pidfd, F_DUPFD_CLOEXEC, 0), "dup pidfd"));
  const std::lock_guard lock(mu_);
  add_readable(epoll_.get(), fd.get());
  const int key = fd.get();
  watched_.emplace(key, std::pair{std::move(fd), std::move(on_exit)});
}

void ExitWatch::run() {
  epoll_event events[16];
  while (true) {
    const int n = ::epoll_wait(epoll_.get(), events, 16, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::error("exit_watch.failed", {{"error", std::strerror(errno)}});
      return;
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == wake_.get()) return;
      fire(events[i].data.fd);
    }
  }
}

void ExitWatch::fire(int fd) {
  std::pair<UniqueFd, OnExit> entry;
  {
    const std::lock_guard lock(mu_);
    const auto it = watched_.find(fd);
    if (it == watched_.end()) return;  // fired already in this batch
    entry = std::move(it->second);
    watched_.erase(it);
    (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  }
  try {
    entry.second(entry.first.get());
  } catch (const std::exception& error) {
    log::error("exit_watch.handler_failed", {{"error", error.what()}});
  }
}

}  // namespace agentfense::server
