// Permission rules on the wire (v1::PermissionRule) <-> the policy engine's rules.
// Validation happens here, at CreateSandbox, so a bad glob is refused before anything
// is mounted, with INVALID_ARGUMENT naming the rule.
#pragma once

#include <google/protobuf/repeated_field.h>

#include <cstdint>
#include <vector>

#include "policy/policy.h"
#include "policy/rule.h"
#include "server/api.h"

namespace agentfense::server {

using WireRules = google::protobuf::RepeatedPtrField<v1::PermissionRule>;

// Throws ApiError(INVALID_ARGUMENT, "permissions[2] ('/a/[b'): ...", kReasonInvalidRule)
// for a missing pattern or permission, or a pattern the engine cannot compile.
std::vector<policy::Rule> rules_from_wire(const WireRules& wire);

// rules_from_wire(), compiled together; a set too complex to compile is refused the
// same way (INVALID_ARGUMENT, kReasonInvalidRule).
policy::Policy policy_from_wire(const WireRules& wire);

v1::PermissionRule rule_to_wire(const policy::Rule& rule);

// About the memory compiling `wire` takes in this process at its peak
// (policy/compile_estimate.h), estimated before anything is built: what a compile holds
// of the server's budget for them (SandboxService::compile_charge).
std::int64_t compile_cost(const WireRules& wire);

}  // namespace agentfense::server
