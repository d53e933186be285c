// The write-layer limits of one sandbox (write_quota.h enforces them), as the CLI, the
// supervisor and the server pass them to an fs process.
#pragma once

#include <cstdint>

namespace agentfense::fs {

struct QuotaLimits {
  std::uint64_t bytes = 0;   // 0 = unlimited
  std::uint64_t inodes = 0;  // 0 = unlimited
};

// What `agentfense run` and `mount` use unless told otherwise.
inline constexpr QuotaLimits kDefaultQuota{std::uint64_t{10} << 30, 1'000'000};

}  // namespace agentfense::fs
