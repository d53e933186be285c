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
//   any failure                    -> {"ok":false,"error":"one line"}
#pragma once

#include <string>
#include <string_view>

#include "fs/filesystem.h"

struct fuse_session;

namespace agentfense::fs {

class ControlOps {
 public:
  // `session` receives the kernel cache invalidations (nullptr: none are sent).
  ControlOps(Filesystem& fs, fuse_session* session) : fs_(fs), session_(session) {}

  // One request line in, one response line out (without the newline). Never throws.
  std::string handle(std::string_view request_line);

 private:
  Filesystem& fs_;
  fuse_session* session_;
};

}  // namespace agentfense::fs
