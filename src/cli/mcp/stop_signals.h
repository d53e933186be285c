// SIGINT, SIGTERM and SIGHUP as a readable fd (signalfd), so the transports can end the
// MCP server in an orderly way (cancel calls, stop the sandbox, review its changes)
// instead of dying in a signal handler. Also blocks SIGPIPE: a client that went away
// makes a write fail with EPIPE rather than kill the server. Construct it before any
// thread starts: every thread inherits the mask. Children reset their mask before exec
// (runtime/child_exec.cc, supervisor/mount_child.cc), so commands see default signals.
#pragma once

#include "common/unique_fd.h"

namespace agentfense::cli::mcp {

class StopSignals {
 public:
  // `keep_ignored`: a stop signal this process inherited as ignored stays ignored (what
  // `nohup` and a shell's `cmd &` ask for) instead of stopping it.
  explicit StopSignals(bool keep_ignored = false);
  int fd() const { return fd_.get(); }
  // The signal that arrived (reads it), or 0 when none is pending.
  int take() const;

 private:
  UniqueFd fd_;
};

}  // namespace agentfense::cli::mcp
