// Which symlinks a commit may put into the codebase (docs/security.md, "A commit carries
// plain content"). A committed link is followed on the host by anything that follows
// links (cat, cp -L, tar -h, an artifact upload of output/), outside every sandbox, so it
// must lead only where the sandbox itself could read.
#pragma once

#include <optional>
#include <string>

#include "layer/scope.h"

namespace agentfense::layer {

// Why a link in directory `link_parent` (a normalized codebase path) with `target` may
// not be committed into the codebase at `base_fd`, or nullopt when it may.
std::optional<std::string> link_target_refusal(int base_fd, const Scope& scope,
                                               const std::string& link_parent,
                                               const std::string& target);

}  // namespace agentfense::layer
