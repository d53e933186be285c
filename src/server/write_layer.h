// A sandbox's write layer as the API sees it: list, diff, commit, discard. Two ways in:
//  - the sandbox is mounted: its fs process owns the journal, so the request goes over
//    the mount's control socket and the fs fixes up its caches in place;
//  - the sandbox is not mounted: the server opens the journal itself.
// Both produce the same wire messages.
#pragma once

#include <string>
#include <vector>

#include "layer/changes.h"
#include "policy/policy.h"
#include "server/api.h"

namespace agentfense::server {

// Offline (no fs process running on `state_dir`). `policy` is the sandbox's: nothing it
// hides is listed, diffed or touched (layer/scope.h).
v1::ListChangesResponse offline_changes(int base_dirfd, const std::string& state_dir,
                                        const policy::Policy& policy);
// `grown`: told the diff's size as it is made (layer::render_diff).
v1::DiffChangesResponse offline_diff(int base_dirfd, const std::string& state_dir,
                                     const policy::Policy& policy,
                                     const std::vector<std::string>& paths,
                                     const layer::DiffGrowth& grown = {});
// `review_token` non-empty: refused (REVIEW_OUTDATED) unless the changes are those a
// diff of `paths` gave it for.
v1::CommitChangesResponse offline_commit(int base_dirfd, const std::string& state_dir,
                                         const policy::Policy& policy,
                                         const std::vector<std::string>& paths,
                                         const std::string& review_token);
void offline_discard(const std::string& state_dir);

// A path naming changes to diff or commit, as the API carries it (common/text_safety.h
// path_to_wire: a change to a name that is not UTF-8 is listed git-quoted and selected
// the same way), normalized: layer::selection_path_from_wire. Throws
// ApiError(INVALID_ARGUMENT, INVALID_PATH).
std::string change_path_from_wire(const std::string& text);

// The layer's answers as wire messages, offline or from the mount's fs process
// (layer/control_protocol.h): paths and messages through layer/changes_wire.h, lists
// bounded as layer/listed_paths.h says. `omitted`: changes the fs process already left out.
v1::ListChangesResponse changes_to_wire(std::vector<layer::Change> changes, std::size_t omitted);
v1::CommitChangesResponse commit_to_wire(layer::CommitResult result);

// The paths whose cached views other mounts of the codebase must drop after a commit:
// those it applied, or "/" when its report left some out.
std::vector<std::string> paths_to_refresh(const v1::CommitChangesResponse& result);

}  // namespace agentfense::server
