// Cancelling a tool call: `notifications/cancelled` from the client, a client that hung up
// (HTTP) or the server shutting down. The runtime watches a file descriptor
// (ExecSpec::cancel_fd): cancel() makes it readable and the command's process tree is
// killed as on a timeout.
#pragma once

#include <atomic>

#include "common/unique_fd.h"

namespace agentfense::cli::mcp {

class Cancellation {
 public:
  Cancellation();  // throws SystemError when no pipe can be made
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  void cancel();  // idempotent, async-signal-safe
  bool cancelled() const { return cancelled_; }
  int fd() const { return read_end_.get(); }

 private:
  UniqueFd read_end_, write_end_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace agentfense::cli::mcp
