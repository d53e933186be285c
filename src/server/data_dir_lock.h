// One server per data directory. A second `agentfense server` over a data directory a
// live server uses would run start-up recovery over it: mark the live server's running
// sandboxes STOPPED, sweep their mounts, end their fs processes, and run a second set of
// commit locks and host id leases over the same codebases. The server takes this lock
// before it touches anything in the data directory and holds it for its whole life; the
// kernel releases it however the process ends (kill -9 too), so a crash never leaves a
// stale lock behind.
#pragma once

#include <string>

#include "common/unique_fd.h"

namespace agentfense::server {

class DataDirLock {
 public:
  // Locks DATA_DIR/server.lock (flock, exclusive, never waiting) and records our pid in
  // it. Throws UserError naming the holder's pid when another process holds it,
  // SystemError for other failures.
  static DataDirLock acquire(const std::string& data_dir);

  DataDirLock(DataDirLock&&) = default;
  DataDirLock& operator=(DataDirLock&&) = default;

 private:
  explicit DataDirLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace agentfense::server
