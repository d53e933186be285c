// The rule both shares between tenants follow (memory budgets, memory_budget.h; transport
// threads, principal_share.h): a tenant may hold `cap` at most, and at most half of what
// the other tenants leave of `total`. n tenants that each keep all they can settle at
// 1/(n+1) of it each, and as much stays free for the next; one alone gets `cap`.
#pragma once

#include <algorithm>
#include <cstdint>

namespace agentfense::server {

// What a tenant may hold now, while the others hold `others` of `total` (may be < 0 when
// they hold more than all of it).
constexpr std::int64_t fair_share(std::int64_t total, std::int64_t cap, std::int64_t others) {
  return std::min(cap, (total - others) / 2);
}

}  // namespace agentfense::server
