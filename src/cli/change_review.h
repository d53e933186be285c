// What `run --changes show|apply|discard` does with a finished command's write layer.
#pragma once

#include <cstdint>
#include <string>

#include "policy/policy.h"

namespace agentfense::cli {

enum class ChangeMode { kShow, kApply, kDiscard };

ChangeMode parse_change_mode(const std::string& text);

// What a review prints of text that came out of a sandbox (file names, the reasons and
// notes of a commit, which quote names and symlink targets): names quoted as git quotes
// them, messages on one line, so none can add a line or an escape sequence to a review.
// `wire_path` may be a path as the API carries it (path_to_wire).
std::string review_path(const std::string& wire_path);
std::string review_message(const std::string& text);

// Prints to stderr (show/apply) and returns true when every change that was asked for
// reached the codebase (apply) — false on conflicts or denied paths, or when applying
// would write more than `max_apply_bytes` (0: no bound; the write quota's bytes: the
// quota counts a hard-linked file once, applying copies it once per name).
bool review_changes(ChangeMode mode, int base_dirfd, const std::string& state_dir,
                    const policy::Policy& policy, std::uint64_t max_apply_bytes);

}  // namespace agentfense::cli
