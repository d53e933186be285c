#include "server/disk_quota.h"

#include <algorithm>

#include "server/config/quantity_parse.h"

namespace agentfense::server {
namespace {

std::int64_t resolve(std::int64_t requested, std::int64_t server_max, const char* field,
                     const char* key, bool bytes) {
  if (requested < 0)
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   std::string("resources.") + field + " must not be negative");
  if (requested == 0) return server_max;
  if (server_max != 0 && requested > server_max) {
    const auto show = [bytes](std::int64_t n) {
      return bytes ? format_size(n) : std::to_string(n);
    };
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   std::string("resources.") + field + " (" + show(requested) +
                       ") is above this server's limit " + key + " (" + show(server_max) + ")");
  }
  return requested;
}

std::uint64_t effective(std::int64_t recorded, std::int64_t server_max) {
  if (recorded <= 0) return static_cast<std::uint64_t>(server_max);
  if (server_max == 0) return static_cast<std::uint64_t>(recorded);
  return static_cast<std::uint64_t>(std::min(recorded, server_max));
}

}  // namespace

v1::ResourceLimits with_disk_quota(v1::ResourceLimits requested, const DiskQuotaPolicy& server) {
  requested.set_disk_bytes(
      resolve(requested.disk_bytes(), server.max_bytes, "disk_bytes", "sandbox.disk_bytes", true));
  requested.set_disk_inodes(resolve(requested.disk_inodes(), server.max_inodes, "disk_inodes",
                                    "sandbox.disk_inodes", false));
  requested.set_pids_limit(
      resolve(requested.pids_limit(), server.max_pids, "pids_limit", "sandbox.pids_limit", false));
  requested.set_memory_bytes(resolve(requested.memory_bytes(), server.max_memory_bytes,
                                     "memory_bytes", "sandbox.memory_bytes", true));
  return requested;
}

fs::QuotaLimits disk_quota_of(const v1::ResourceLimits& recorded, const DiskQuotaPolicy& server) {
  return {effective(recorded.disk_bytes(), server.max_bytes),
          effective(recorded.disk_inodes(), server.max_inodes)};
}

v1::ResourceLimits process_limits_of(v1::ResourceLimits recorded, const DiskQuotaPolicy& server) {
  recorded.set_pids_limit(
      static_cast<std::int64_t>(effective(recorded.pids_limit(), server.max_pids)));
  recorded.set_memory_bytes(
      static_cast<std::int64_t>(effective(recorded.memory_bytes(), server.max_memory_bytes)));
  return recorded;
}

}  // namespace agentfense::server
