#include "server/auth/request_rate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "server/api.h"

namespace agentfense::server {

void RequestRate::take(const Principal& principal, Clock::time_point now) {
  const std::int64_t rate = principal.quotas.requests_per_second;
  if (rate <= 0) return;
  const double burst = static_cast<double>(
      principal.quotas.request_burst > 0 ? principal.quotas.request_burst : rate);
  const std::lock_guard lock(mutex_);
  auto [it, fresh] = buckets_.try_emplace(principal.id, Bucket{burst, now});
  Bucket& bucket = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - bucket.refilled).count();
    bucket.tokens =
        std::min(burst, bucket.tokens + std::max(0.0, elapsed) * static_cast<double>(rate));
    bucket.refilled = now;
  }
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return;
  }
  const double wait = (1.0 - bucket.tokens) / static_cast<double>(rate);
  char retry[32];
  std::snprintf(retry, sizeof retry, "%.2fs", wait);
  throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                 "principal " + principal.id + " exceeds quotas.requests_per_second (" +
                     std::to_string(rate) + " per second, burst " +
                     std::to_string(static_cast<std::int64_t>(burst)) + "); retry in " + retry,
                 kReasonQuotaExceeded);
}

}  // namespace agentfense::server
