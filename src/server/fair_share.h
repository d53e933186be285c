// The rule both shares between tenants follow (memory budgets, memory_budget.h; transport
// threads, principal_share.h): a tenant may hold `cap` at most, and at most half of what
// the other tenants leave of `total`; one alone gets `cap`. n tenants that keep taking
// all they can as they let go settle at 1/(n+1) of it each; taken once, first come, the
// k-th gets 1/2^k of it, and little is left past a few of them (the thread shares keep a
// reserve for that: principal_share.h).
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
