// Whom the per-owner limits count against (sandbox.max_per_user).
//
// The server does not authenticate its callers yet (the multi-tenant issue), so the only
// owner it knows is the one recorded on the codebase a sandbox is created on; a
// sandbox is never counted against a value its creator supplies with it. The limit
// therefore holds per codebase owner: sandboxes on several codebases of one owner add
// up, and so do sandboxes other clients create on that owner's codebases. It cannot stop
// a client from creating codebases under ever new owner ids; that needs authentication.
//
// Seam: once calls carry an authenticated principal (CallContext), this is where it
// replaces the codebase's owner, and the count becomes "sandboxes created by this
// principal".
#pragma once

#include <string>

#include "codebase.pb.h"

namespace agentfense::server {

inline std::string quota_owner(const ::sandbox::v1::Codebase& codebase) {
  return codebase.owner_id();
}

}  // namespace agentfense::server
