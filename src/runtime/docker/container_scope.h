// agentfense-scope inside a sandbox's container: every command of a Docker sandbox (each
// one-shot exec, each session) starts through it in a Landlock domain of its own, so no
// process of one can open another's /proc files, trace or signal it
// (runtime/landlock_domain.h). The host's binary, found next to this executable, is
// copied execute-only into the container's kRuntimeDir (container_bash.h).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "runtime/docker/container_init.h"

namespace agentfense::runtime::docker {

// The copy's path inside the container, or "" when the kernel offers no Landlock: the
// container's commands then share one domain-less uid, as documented, and the server
// says so in its log once. Throws UserError when the kernel offers Landlock but the
// binary is not installed next to this executable, SystemError when the copy fails.
std::string install_scope_helper(const ContainerInit& init);

// The argv that runs `argv` through the helper at `scope` (unchanged when it is "").
std::vector<std::string> scoped(const std::string& scope, std::vector<std::string> argv);

}  // namespace agentfense::runtime::docker
