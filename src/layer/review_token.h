// A review token: what a caller reviewed, so that a commit can insist on exactly that.
// While a sandbox runs, a process a session left behind can change a file between the
// caller's diff and its commit; a commit given the token from the diff is refused when
// the selected changes are no longer the ones reviewed.
#pragma once

#include <string>

#include "layer/change_selection.h"
#include "layer/journal.h"
#include "layer/scope.h"

namespace agentfense::layer {

// Hex SHA-256 over the changes `only` selects, in path order: each one's path, kind and
// type and, for what is in upper, its permission bits and its content (a file's bytes,
// a symlink's target). Equal tokens mean the same changes with the same content. Walks
// the layer in bounded passes, like a commit; reads every selected file.
std::string review_token(int base_dirfd, const Journal& j, const Scope& scope,
                         const ChangeSelection& only);

}  // namespace agentfense::layer
