#include "server/memory_budget.h"

#include "common/api_error.h"
#include "store/upload_limits.h"

namespace agentfense::server {

void MemoryBudget::refuse(const std::string& what) const {
  throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                 what + ": the server holds " + store::describe_bytes(total_ - left_) + " " +
                     holding_ + " already (at most " + store::describe_bytes(total_) +
                     " at once); retry shortly",
                 kReasonQuotaExceeded);
}

void MemoryBudget::check_room(const std::string& what) {
  std::lock_guard lock(mu_);
  if (left_ <= 0) refuse(what);
}

void MemoryBudget::Grant::hold(std::int64_t bytes) {
  if (bytes <= held_) return;
  {
    std::lock_guard lock(budget_.mu_);
    if (bytes - held_ > budget_.left_) budget_.refuse(what_);
    budget_.left_ -= bytes - held_;
  }
  held_ = bytes;
}

void MemoryBudget::Grant::hold_anyway(std::int64_t bytes) {
  if (bytes <= held_) return;
  {
    std::lock_guard lock(budget_.mu_);
    budget_.left_ -= bytes - held_;
  }
  held_ = bytes;
}

void MemoryBudget::give_back(std::int64_t bytes) {
  std::lock_guard lock(mu_);
  left_ += bytes;
}

}  // namespace agentfense::server
