// The fs side of a live mount's control socket (control_server.h): a supervisor reviews
// and applies this sandbox's write layer while the agent keeps using the mount, drops
// cached views of base paths another sandbox's commit changed, brackets commands in the
// audit trail and reads the daemon's counters. The messages are
// layer/control_protocol.h's.
#pragma once

#include <string>
#include <string_view>

#include "fs/filesystem.h"
#include "fs/open_watch.h"
#include "fs/prewarm_child.h"

struct fuse_session;

namespace agentfense::fs {

class ControlOps {
 public:
  // `session` receives the kernel cache invalidations (nullptr: none are sent).
  // `opens` (may be null) is drained before a command's events are acknowledged.
  // `prewarm` (may be null): the warm-up walker, whose state "stats" reports.
  ControlOps(Filesystem& fs, fuse_session* session, OpenWatch* opens = nullptr,
             PrewarmChild* prewarm = nullptr)
      : fs_(fs), session_(session), opens_(opens), prewarm_(prewarm) {}

  // One request line in, one response line out (without the newline). Never throws.
  std::string handle(std::string_view request_line);

 private:
  Filesystem& fs_;
  fuse_session* session_;
  OpenWatch* opens_;
  PrewarmChild* prewarm_;
};

}  // namespace agentfense::fs
