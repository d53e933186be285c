// Makes the workspace reachable for an unprivileged bwrap.
//
// The mountpoint lives under a root-only directory (/run/agentfense, 0700). bwrap
// --bind-fd still realpath()s "/proc/self/fd/N" back into that path as the sandbox
// uid, which cannot traverse it (EACCES). So the child, while still root, clones the
// workspace mount from the fd (open_tree, no path lookup), enters a private mount
// namespace, attaches the clone at kWorkspaceStagingDir there, and replaces the fd
// with one opened on the staged copy. Nothing appears in the host's mount table, and
// the staging namespace disappears with the sandbox. Async-signal-safe.
#pragma once

#include "common/child_process.h"

namespace agentfense::runtime {

// An existing, world-traversable directory that bwrap does not use itself (bwrap
// mounts its scratch tmpfs over /tmp, which would hide anything staged there).
inline constexpr const char* kWorkspaceStagingDir = "/mnt";

// On success `workspace_fd` (same number) refers to the staged workspace.
ChildFailure stage_workspace(int workspace_fd);

// The same private mount namespace without a workspace in it (one attached later,
// workspace_attach.h): bwrap's binds of host paths then see no host mount events either.
ChildFailure enter_private_mount_namespace();

}  // namespace agentfense::runtime
