// A commit must not grow a codebase past storage.max_codebase_bytes either: with the
// default sync mode every command's writes are committed, so without this check each
// command could add a full write-layer quota to the host disk (dd, commit, dd, ...).
#pragma once

#include <cstdint>
#include <string>

#include "store/codebase_store.h"

namespace agentfense::server {

// What a sandbox's write layer holds, in bytes: from its fs process's statfs when its
// quota has a byte limit (the daemon keeps that count; no walk), else by walking
// `state_dir`/upper (regular files only). Conservative either way: every file counts as
// new, and statfs counts blocks and directories.
std::int64_t write_layer_bytes(int workspace_fd, bool quota_limited, const std::string& state_dir);
std::int64_t write_layer_bytes(const std::string& state_dir);

// Before a commit of `pending` bytes: throws ApiError(RESOURCE_EXHAUSTED,
// kReasonQuotaExceeded) when they do not fit in what the codebase may still hold.
// Otherwise adds them to the codebase's recorded size at once, so the next commit (of
// this sandbox or another) sees them before the background recount after this commit
// measures the truth.
void reserve_commit_room(store::CodebaseStore& codebases, const std::string& codebase_id,
                         std::int64_t pending);

}  // namespace agentfense::server
