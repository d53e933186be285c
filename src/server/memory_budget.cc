#include "server/memory_budget.h"

#include <chrono>

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
  const std::int64_t mine = held_by(principal);
  if (more > 0 ? mine + more > per_principal_ : mine >= per_principal_)
    throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                   what + ": principal " + principal + " holds " + store::describe_bytes(mine) +
                       " " + holding_ + " already (at most " +
                       store::describe_bytes(per_principal_) + " per principal, of the server's " +
                       store::describe_bytes(total_) + "); retry once its answers were read",
                   kReasonQuotaExceeded);
}

namespace {

// Adds `bytes` to `principal`'s entry, erasing entries that fall to 0.
void add_to(std::map<std::string, std::int64_t>& by, const std::string& principal,
            std::int64_t bytes) {
  if ((by[principal] += bytes) <= 0) by.erase(principal);
}

std::int64_t of(const std::map<std::string, std::int64_t>& by, const std::string& principal) {
  const auto held = by.find(principal);
  return held == by.end() ? 0 : held->second;
}

}  // namespace

void MemoryBudget::charge(const std::string& principal, std::int64_t bytes, bool sending) {
  left_ -= bytes;
  if (bytes < 0) given_back_.notify_all();
  if (per_principal_ > 0 && !principal.empty()) add_to(held_by_, principal, bytes);
  if (sending) count_sending(principal, bytes);
}

void MemoryBudget::count_sending(const std::string& principal, std::int64_t bytes) {
  sending_held_ += bytes;
  if (per_principal_ > 0 && !principal.empty()) add_to(sending_held_by_, principal, bytes);
}

std::int64_t MemoryBudget::held_by(const std::string& principal) const {
  return of(held_by_, principal);
}

bool MemoryBudget::must_wait(const std::string& principal, std::uint64_t ticket) const {
  if (ticket == 0) return false;
  // Answers being sent go back as their callers read them: while they fill a bound by
  // themselves, even the oldest waits for them.
  const bool counted = per_principal_ > 0 && !principal.empty();
  if (sending_held_ >= total_ || (counted && of(sending_held_by_, principal) >= per_principal_))
    return true;
  // Else what is over a bound is other execs' output, and they wait for the oldest.
  if (capturing_.begin()->first == ticket) return false;
  if (left_ < 0) return true;
  if (!counted || held_by(principal) <= per_principal_) return false;
  for (const auto& [older, whose] : capturing_)
    if (whose == principal) return older != ticket;
  return false;
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
    budget_.charge(principal_, bytes - held_, sending_);
  }
  held_ = bytes;
}

void MemoryBudget::Grant::hold_anyway(std::int64_t bytes) {
  if (bytes <= held_) return;
  {
    std::lock_guard lock(budget_.mu_);
    budget_.charge(principal_, bytes - held_, sending_);
  }
  held_ = bytes;
}

void MemoryBudget::Grant::begin_capturing() {
  std::lock_guard lock(budget_.mu_);
  if (ticket_ != 0) return;
  ticket_ = budget_.next_ticket_++;
  budget_.capturing_.emplace(ticket_, principal_);
}

void MemoryBudget::Grant::end_capturing() {
  std::lock_guard lock(budget_.mu_);
  if (ticket_ == 0) return;
  budget_.capturing_.erase(ticket_);
  ticket_ = 0;
  budget_.given_back_.notify_all();  // the next oldest may proceed now
}

void MemoryBudget::Grant::wait_for_room(const std::function<bool()>& give_up) {
  std::unique_lock lock(budget_.mu_);
  while (budget_.must_wait(principal_, ticket_) && !give_up())
    budget_.given_back_.wait_for(lock, std::chrono::milliseconds(50));
}

void MemoryBudget::Grant::sending() {
  std::lock_guard lock(budget_.mu_);
  if (sending_) return;
  sending_ = true;
  budget_.count_sending(principal_, held_);
}

MemoryBudget::Grant::~Grant() {
  end_capturing();
  std::lock_guard lock(budget_.mu_);
  budget_.charge(principal_, -held_, sending_);
}

}  // namespace agentfense::server
