// The requests a supervisor sends to a live mount over its control socket
// (control_server.h): review and apply this sandbox's write layer while the agent keeps
// using the mount, and drop cached views of base paths another sandbox's commit changed.
// One JSON object per request, one per response:
//   {"op":"ping"}                  -> {"ok":true}
//   {"op":"changes"}               -> {"ok":true,"changes":[{"path","kind","type"}]}
//   {"op":"diff","paths":[..]}     -> {"ok":true,"diff":"..."}        (no paths = all)
//   {"op":"commit","paths":[..]}   -> {"ok":true,"applied","denied","conflicts","reasons"}
//   {"op":"discard"}               -> {"ok":true}
//   {"op":"refresh","paths":[..]}  -> {"ok":true}
//   {"op":"audit_begin","command":"ID"} -> {"ok":true}   events now carry the command id
//   {"op":"stats"}                 -> {"ok":true,"requests":{"readdir","reads",...},
//        "prewarm":"off"|"walking"|"done"}  what reached the daemon so far (tests,
//        diagnostics) and the warm-up walk's state (prewarm_walk.h)
//   {"op":"audit_end","command":"ID"}   -> {"ok":true,"dropped":N} once the command's
//        events (its repeat counts too) are written and synced: acknowledged
//        (docs/audit.md); {"ok":false,...} when auditing is off or the disk refused
//   any failure                    -> {"ok":false,"error":"one line"}
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
