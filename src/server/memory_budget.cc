#include "server/memory_budget.h"

#include "common/api_error.h"
#include "store/upload_limits.h"

namespace agentfense::server {

void MemoryBudget::Grant::hold(std::int64_t bytes) {
  if (bytes <= held_) return;
  {
    std::lock_guard lock(budget_.mu_);
    if (bytes - held_ > budget_.left_)
      throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                     what_ + ": the server holds " +
                         store::describe_bytes(budget_.total_ - budget_.left_) +
                         " of files for other reads already (at most " +
                         store::describe_bytes(budget_.total_) + " at once); retry shortly",
                     kReasonQuotaExceeded);
    budget_.left_ -= bytes - held_;
  }
  held_ = bytes;
}

void MemoryBudget::give_back(std::int64_t bytes) {
  std::lock_guard lock(mu_);
  left_ += bytes;
}

}  // namespace agentfense::server
