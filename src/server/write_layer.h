// A sandbox's write layer as the API sees it: list, diff, commit, discard. Two ways in:
//  - the sandbox is mounted: its fs process owns the journal, so the request goes over
//    the mount's control socket and the fs fixes up its caches in place;
//  - the sandbox is not mounted: the server opens the journal itself.
// Both produce the same wire messages.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "server/api.h"

namespace agentfense::server {

// Offline (no fs process running on `state_dir`). `policy` is the sandbox's: nothing it
// hides is listed, diffed or touched (layer/scope.h).
v1::ListChangesResponse offline_changes(int base_dirfd, const std::string& state_dir,
                                        const policy::Policy& policy);
v1::DiffChangesResponse offline_diff(int base_dirfd, const std::string& state_dir,
                                     const policy::Policy& policy,
                                     const std::vector<std::string>& paths);
v1::CommitChangesResponse offline_commit(int base_dirfd, const std::string& state_dir,
                                         const policy::Policy& policy,
                                         const std::vector<std::string>& paths);
void offline_discard(const std::string& state_dir);

// A path naming changes to diff or commit, as the API carries it (common/text_safety.h
// path_to_wire: a change to a name that is not UTF-8 is listed git-quoted and selected
// the same way), normalized: layer::selection_path_from_wire. Throws
// ApiError(INVALID_ARGUMENT, INVALID_PATH).
std::string change_path_from_wire(const std::string& text);

// Replies of the mount's control socket ("changes", "commit") as wire messages.
v1::ListChangesResponse changes_from_control(const nlohmann::json& reply);
v1::CommitChangesResponse commit_from_control(const nlohmann::json& reply);

// Every path named by a changes listing / commit, for telling other mounts to refresh.
std::vector<std::string> paths_to_refresh(const v1::CommitChangesResponse& result);

}  // namespace agentfense::server
