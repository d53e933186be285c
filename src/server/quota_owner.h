// Whom the per-owner limit counts against (sandbox.max_per_user): the owner recorded on
// the codebase a sandbox is created on, never a value its creator supplies with it.
//
// With authentication (issue 10) that owner is no longer the client's to choose: a
// codebase gets an owner the creating principal acts for (tenant_scope.h owner_for), and
// sandboxes can only be created on codebases of the caller's owners. So the limit holds
// per owner id as the operator assigned them to keys; the per-principal quotas
// (principal.h PrincipalQuotas: running sandboxes, sessions, codebases, stored bytes,
// concurrent commands, request rate) count against the authenticated caller on top.
// Without authentication it stays what it was: per codebase owner, owners unchecked.
#pragma once

#include <string>

#include "codebase.pb.h"

namespace agentfense::server {

inline std::string quota_owner(const ::sandbox::v1::Codebase& codebase) {
  return codebase.owner_id();
}

}  // namespace agentfense::server
