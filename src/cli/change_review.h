// What `run --changes show|apply|discard` does with a finished command's write layer.
#pragma once

#include <string>

#include "policy/policy.h"

namespace agentfense::cli {

enum class ChangeMode { kShow, kApply, kDiscard };

ChangeMode parse_change_mode(const std::string& text);

// Prints to stderr (show/apply) and returns true when every change that was asked for
// reached the codebase (apply) — false on conflicts or denied paths.
bool review_changes(ChangeMode mode, int base_dirfd, const std::string& state_dir,
                    const policy::Policy& policy);

}  // namespace agentfense::cli
