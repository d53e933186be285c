#include "server/memory_budget.h"

#include "common/api_error.h"
#include "store/upload_limits.h"

namespace agentfense::server {

void MemoryBudget::check_fits(const std::string& what, const std::string& principal,
                              std::int64_t more) const {
  if (more > 0 ? more > left_ : left_ <= 0)
    throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                   what + ": the server holds " + store::describe_bytes(total_ - left_) + " " +
                       holding_ + " already (at most " + store::describe_bytes(total_) +
                       " at once); retry shortly",
                   kReasonQuotaExceeded);
  if (per_principal_ <= 0 || principal.empty()) return;
  const auto held = held_by_.find(principal);
  const std::int64_t mine = held == held_by_.end() ? 0 : held->second;
  if (more > 0 ? mine + more > per_principal_ : mine >= per_principal_)
    throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                   what + ": principal " + principal + " holds " + store::describe_bytes(mine) +
                       " " + holding_ + " already (at most " +
                       store::describe_bytes(per_principal_) + " per principal, of the server's " +
                       store::describe_bytes(total_) + "); retry once its answers were read",
                   kReasonQuotaExceeded);
}

void MemoryBudget::charge(const std::string& principal, std::int64_t bytes) {
  left_ -= bytes;
  if (per_principal_ <= 0 || principal.empty()) return;
  if ((held_by_[principal] += bytes) <= 0) held_by_.erase(principal);
}

void MemoryBudget::check_room(const std::string& what, const std::string& principal) {
  std::lock_guard lock(mu_);
  check_fits(what, principal, 0);
}

void MemoryBudget::Grant::hold(std::int64_t bytes) {
  if (bytes <= held_) return;
  {
    std::lock_guard lock(budget_.mu_);
    budget_.check_fits(what_, principal_, bytes - held_);
    budget_.charge(principal_, bytes - held_);
  }
  held_ = bytes;
}

void MemoryBudget::Grant::hold_anyway(std::int64_t bytes) {
  if (bytes <= held_) return;
  {
    std::lock_guard lock(budget_.mu_);
    budget_.charge(principal_, bytes - held_);
  }
  held_ = bytes;
}

MemoryBudget::Grant::~Grant() {
  std::lock_guard lock(budget_.mu_);
  budget_.charge(principal_, -held_);
}

}  // namespace agentfense::server
