// Files as the agent sees them, for the sandbox-scoped file RPCs. All access goes
// through the sandbox's mounted permission filesystem (so the daemon's own checks and
// the merged base+upper view apply), resolved with openat2(RESOLVE_IN_ROOT |
// RESOLVE_NO_SYMLINKS) under the mount: a path can neither leave /workspace nor be
// redirected by a symlink the agent planted. The policy is consulted first so that
// each refusal has the right status: hidden -> NOT_FOUND (indistinguishable from
// absent), no read/write permission -> PERMISSION_DENIED. Only regular files are read
// or written: a FIFO, socket or device the agent made is refused at once
// (INVALID_ARGUMENT, "... is not a regular file"), never waited on.
#pragma once

#include <string>

#include "policy/policy.h"
#include "server/api.h"
#include "server/memory_budget.h"

namespace agentfense::server {

// "a/b", "/a/b/" -> "/a/b". Throws ApiError(INVALID_ARGUMENT, kReasonInvalidPath) for
// "..", NUL bytes or an empty path where a file is needed.
std::string workspace_path(const std::string& raw, bool allow_root);

// Holds what it reads in `grant` (memory_budget.h) as it reads.
v1::ReadSandboxFileResponse read_sandbox_file(int workspace_fd, const policy::Policy& policy,
                                              const std::string& path, MemoryBudget::Grant& grant);
v1::SandboxFileInfo write_sandbox_file(int workspace_fd, const policy::Policy& policy,
                                       const std::string& path, const std::string& content);
// Names left out (not UTF-8) make one log line naming `sandbox_id`.
v1::ListSandboxFilesResponse list_sandbox_files(const std::string& sandbox_id, int workspace_fd,
                                                const policy::Policy& policy,
                                                const std::string& path, bool recursive);

}  // namespace agentfense::server
