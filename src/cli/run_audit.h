// The security events `agentfense run --audit FILE` adds to the trail the fs process
// writes file events to: the sandbox with its rules and limits before the command, and
// the command's result after it. Written synchronously (flock + fdatasync), so when run
// exits, everything in the trail is acknowledged.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "audit/trail_file.h"
#include "policy/rule.h"
#include "runtime/exec.h"

namespace agentfense::cli {

class RunAudit {
 public:
  // `path` was checked to lie outside the codebase when the run's options were read
  // (local_sandbox_spec, trail_location.h).
  RunAudit(const std::string& path, std::string sandbox);

  void created(const std::vector<policy::Rule>& rules, const runtime::ExecSpec& spec);
  void finished(const runtime::ExecSpec& spec, const runtime::ExecResult& result,
                const std::string& changes, bool changes_ok);

 private:
  void write(audit::Event event);
  audit::TrailFile trail_;
};

}  // namespace agentfense::cli
