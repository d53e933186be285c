// The bwrap command line for one sandbox: namespaces, the read-only host /usr, the
// generated /etc, /workspace, seccomp and the command. Pure: takes fds that are already
// open and returns strings, so it is unit-testable without running anything.
#pragma once

#include <string>
#include <vector>

#include "runtime/etc_files.h"

namespace agentfense::runtime {

// Absolute, so the supervisor's PATH cannot substitute another binary. bwrap >= 0.8 is
// required (--bind-fd, --disable-userns).
inline constexpr const char* kBwrapPath = "/usr/bin/bwrap";

struct BwrapPlan {
  std::vector<std::string> command;
  int workspace_fd = -1;  // bound at /workspace when >= 0
  std::string workdir;    // absolute path inside the sandbox
  bool network = false;
  int seccomp_fd = -1;
  const std::vector<GeneratedFile>* etc_files = nullptr;
};

std::vector<std::string> bwrap_argv(const BwrapPlan& plan);

// `workdir` as an absolute sandbox path: relative paths are relative to /workspace.
// Throws UserError for a path with ".." that could leave the tree it names.
std::string resolve_workdir(const std::string& workdir);

}  // namespace agentfense::runtime
