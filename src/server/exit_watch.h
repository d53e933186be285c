// Notices child processes that exit on their own. The server's fs processes (one per
// running sandbox) were only looked at when their sandbox was stopped: one that died
// (killed, crashed) left its sandbox reported RUNNING forever over a dead FUSE mount, the
// process an unreaped zombie. One thread waits on the pidfds of every watched process
// (epoll) and runs the watcher's function once each of them exits.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "common/unique_fd.h"

namespace agentfense::server {

class ExitWatch {
 public:
  // Gets a pidfd of the exited process (still unreaped when nobody else reaped it:
  // waitid(P_PIDFD, WNOWAIT) reads its status). Runs on the watch's thread, one at a
  // time; it may block (it delays the next process's). Exceptions are logged.
  using OnExit = std::function<void(int pidfd)>;

  ExitWatch();
  ExitWatch(const ExitWatch&) = delete;
  ExitWatch& operator=(const ExitWatch&) = delete;
  // Stops the thread (after a function in progress returns); the rest are never run.
  ~ExitWatch();

  // Runs `on_exit` once the process behind `pidfd` exits (at once when it has already).
  // The pidfd is duplicated: the caller's may be closed meanwhile (a stop reaps the
  // process: `on_exit` then runs too and must tell that case apart).
  void watch(int pidfd, OnExit on_exit);

 private:
  void run();
  void fire(int fd);

  UniqueFd epoll_;
  UniqueFd wake_;  // eventfd: the destructor's stop
  std::mutex mu_;
  std::map<int, std::pair<UniqueFd, OnExit>> watched_;  // by the duplicated fd's number
  std::thread thread_;
};

}  // namespace agentfense::server
