// A commit must not grow a codebase past storage.max_codebase_bytes either: with the
// default sync mode every command's writes are committed, so without this check each
// command could add a full write-layer quota to the host disk (dd, commit, dd, ...).
#pragma once

#include <cstdint>
#include <string>

#include "store/codebase_store.h"

namespace agentfense::server {

// What committing a sandbox's write layer may add to the codebase, as the store charges
// it: a walk of `state_dir`/upper counting every regular file's size once per name (a
// commit copies a hard-linked file once per name; the write quota's own figure counts it
// once) and a block per directory and symlink (layer/tree_bytes.h). Conservative: every
// entry counts as new, also directories the codebase already has.
std::int64_t write_layer_bytes(const std::string& state_dir);

// Before a commit of `pending` bytes: throws ApiError(RESOURCE_EXHAUSTED,
// kReasonQuotaExceeded) when they do not fit in what the codebase may still hold.
// Otherwise adds them to the codebase's recorded size at once, so the next commit (of
// this sandbox or another) sees them before the background recount after this commit
// measures the truth. Returns the room there was (bytes -1: no limit): a running
// sandbox's fs process checks the commit against it again under its locks.
store::Room reserve_commit_room(store::CodebaseStore& codebases, const std::string& codebase_id,
                                std::int64_t pending);

// The error for a commit whose changes are no longer those its review token names.
[[noreturn]] void throw_review_outdated(const std::string& why);

// The error for a commit the fs process refused as larger than `room`.
[[noreturn]] void throw_commit_over_room(const std::string& sandbox_id, std::int64_t bytes,
                                         const store::Room& room);

}  // namespace agentfense::server
