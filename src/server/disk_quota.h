// The write-layer quota a sandbox gets (fs/write_quota.h), from its ResourceLimits and
// the server's sandbox.disk_bytes / sandbox.disk_inodes: a field left 0 takes the server's
// value, which is also the most a request may ask for (a server value of 0 = no limit).
#pragma once

#include <cstdint>

#include "fs/quota_limits.h"
#include "server/api.h"

namespace agentfense::server {

struct DiskQuotaPolicy {
  std::int64_t max_bytes = 0;   // 0 = no limit
  std::int64_t max_inodes = 0;  // 0 = no limit
  // The same rule for a sandbox's processes (sandbox.pids_limit, sandbox.memory_bytes):
  // without them a tenant's command ran 1,100 processes and a request for 1 PiB of
  // memory was accepted. Applied by with_disk_quota too.
  std::int64_t max_pids = 0;          // 0 = no limit
  std::int64_t max_memory_bytes = 0;  // 0 = no limit
};

// `requested` with its disk, pids and memory fields filled in, as a new sandbox records
// them. Throws ApiError(INVALID_ARGUMENT) naming the field for a negative value or one
// above the server's limit.
v1::ResourceLimits with_disk_quota(v1::ResourceLimits requested, const DiskQuotaPolicy& server);

// The limits to mount a sandbox with. A record from before these fields existed (0) gets
// the server's values; one above a server limit lowered since is held to it.
fs::QuotaLimits disk_quota_of(const v1::ResourceLimits& recorded, const DiskQuotaPolicy& server);
// The pids and memory limits to start with, by the same rule.
v1::ResourceLimits process_limits_of(v1::ResourceLimits recorded, const DiskQuotaPolicy& server);

}  // namespace agentfense::server
