// What CreateSandbox warns about in a sandbox's rules: every existing path of the
// codebase where a `none` rule matches but a rule of lower or equal priority decides
// (policy/shadowed_none.h). The analysis is pure; this walks the codebase for it.
#pragma once

#include <string>
#include <vector>

#include "policy/policy.h"

namespace agentfense::server {

// At most this many warnings per sandbox; the last one counts the rest.
inline constexpr std::size_t kMaxPolicyWarnings = 50;

// Rule checks (ShadowFinder::steps) one CreateSandbox may spend on its warnings: about
// a CPU-second at worst (a check is about a microsecond). A policy with 10,000 rules may
// cost 10,000 per directory; the usual few rules check 100,000s of directories.
inline constexpr std::size_t kMaxPolicyWarningSteps = 1'000'000;

// Walks the codebase directory `files_dir` (never following a symlink) and returns the
// warnings for `policy`. Subtrees where no shadowing is possible are skipped, and when
// no pair of rules can shadow at all nothing is walked (the common case). Best effort:
// an unreadable directory is skipped, never an error. Past 1,000,000 entries or
// `max_steps` rule checks the walk stops, and a last warning says the check was cut short.
std::vector<std::string> policy_warnings(const policy::Policy& policy, const std::string& files_dir,
                                         std::size_t max_steps = kMaxPolicyWarningSteps);

}  // namespace agentfense::server
