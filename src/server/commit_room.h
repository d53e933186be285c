// A commit must not grow a codebase past storage.max_codebase_bytes either: with the
// default sync mode every command's writes are committed, so without this check each
// command could add a full write-layer quota to the host disk (dd, commit, dd, ...).
#pragma once

#include <string>

#include "store/codebase_store.h"

namespace agentfense::server {

// Before a commit of the write layer at `state_dir`: throws ApiError(RESOURCE_EXHAUSTED,
// kReasonQuotaExceeded) when its regular files (all of them, as if every one were new:
// conservative) do not fit in what the codebase may still hold. Otherwise adds them to
// the codebase's recorded size at once, so the next commit (of this sandbox or another)
// sees them before the background recount after this commit measures the truth.
void reserve_commit_room(store::CodebaseStore& codebases, const std::string& codebase_id,
                         const std::string& state_dir);

}  // namespace agentfense::server
