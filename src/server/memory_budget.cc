#include "server/memory_budget.h"

#include <algorithm>
#include <chrono>

#include "common/api_error.h"
#include "server/fair_share.h"
#include "store/upload_limits.h"

namespace agentfense::server {

void MemoryBudget::check_fits(const std::string& what, const std::string& holder,
                              std::int64_t more) const {
  // Refusals name the caller's own bytes and the fixed bounds only: what the server or
  // a share holds now would tell a tenant, to the byte, what other tenants' calls hold
  // (sweep U, U6: the size of another tenant's output).
  // A tenant past its own share is told so first: it is what it can change.
  if (counted(holder)) {
    const std::int64_t mine = held_by(holder);
    const std::int64_t share = share_of(holder);
    if (more > 0 ? mine + more > share : mine >= share) {
      const std::string bound =
          store::describe_bytes(per_holder_) + " per tenant, of the server's " +
          store::describe_bytes(total_) +
          (share >= per_holder_ ? "" : "; now less: half of what other tenants leave");
      throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                     what + ": " + holder + " holds " + store::describe_bytes(mine) + " " +
                         holding_ + " already (at most " + bound + "); " + free_up_,
                     kReasonQuotaExceeded);
    }
  }
  const std::int64_t left = left_ - kept_from(holder);
  if (more > 0 ? more > left : left <= 0)
    throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                   what + ": the server's " + store::describe_bytes(total_) + " " + holding_ +
                       " are in use; retry shortly",
                   kReasonQuotaExceeded);
}

namespace {

// Adds `bytes` to `holder`'s entry, erasing entries that fall to 0.
void add_to(std::map<std::string, std::int64_t>& by, const std::string& holder,
            std::int64_t bytes) {
  if ((by[holder] += bytes) <= 0) by.erase(holder);
}

std::int64_t of(const std::map<std::string, std::int64_t>& by, const std::string& holder) {
  const auto held = by.find(holder);
  return held == by.end() ? 0 : held->second;
}

}  // namespace

void MemoryBudget::charge(const Grant& grant, std::int64_t bytes) {
  left_ -= bytes;
  if (bytes < 0) given_back_.notify_all();
  if (counted(grant.holder_)) {
    add_to(held_by_, grant.holder_, bytes);
    if (grant.finished_) add_to(finished_held_by_, grant.holder_, bytes);
  }
  if (grant.sending_) count_sending(grant.holder_, bytes);
}

void MemoryBudget::count_sending(const std::string& holder, std::int64_t bytes) {
  sending_held_ += bytes;
  if (counted(holder)) add_to(sending_held_by_, holder, bytes);
}

std::int64_t MemoryBudget::held_by(const std::string& holder) const {
  return of(held_by_, holder);
}

std::int64_t MemoryBudget::kept_from(const std::string& holder) const {
  if (!counted(holder)) return 0;
  // Execs started together each hold nothing yet: a capturing grant counts as holding.
  const bool holds = held_by(holder) > 0 || std::ranges::any_of(capturing_, [&](const auto& c) {
                       return c.second == holder;
                     });
  return holds ? reserve_ : 0;
}

std::int64_t MemoryBudget::share_of(const std::string& holder) const {
  return fair_share(total_, per_holder_, total_ - left_ - held_by(holder));
}

MemoryBudget::Verdict MemoryBudget::verdict_for(const Grant& grant) const {
  const std::string& holder = grant.holder_;
  if (grant.ticket_ == 0) return Verdict::kGo;
  // Answers being sent go back as their callers read them (or are cancelled), whatever
  // the commands do: while they fill a bound by themselves, even the oldest waits for
  // them. (Only for answers of its own holder: a share shrunk by others' output must not
  // stop the oldest, or the others' execs that wait for it wait for good.)
  const std::int64_t share = counted(holder) ? share_of(holder) : 0;
  const std::int64_t own_sending = counted(holder) ? of(sending_held_by_, holder) : 0;
  if (sending_held_ >= total_ || (own_sending > 0 && own_sending >= share)) return Verdict::kWait;
  const bool over_budget = left_ < (grant.newcomer_ ? 0 : reserve_);
  const bool over_share = counted(holder) && held_by(holder) > share;
  if (!over_budget && !over_share) return Verdict::kGo;
  // Over a bound: the others wait for the oldest (of all; of the holder's, for its share).
  if (capturing_.begin()->first != grant.ticket_) {
    if (over_budget) return Verdict::kWait;
    for (const auto& [older, whose] : capturing_)
      if (whose == holder) {
        if (older != grant.ticket_) return Verdict::kWait;
        break;
      }
  }
  // The oldest: what is over is other running execs' output (they wait for it) or
  // finished results not yet sent; those of its own sandbox may wait for it (the header).
  // So may its holder's, in other sandboxes (their syncs wait for commands there, which
  // may wait for it): while those and its holder's answers being sent fill its share, it
  // waits as for its own sandbox's. Before, it wrote on past them, and a tenant's execs in
  // several sandboxes each wrote all they had in turn in the moment before each result
  // became an answer being sent (sweep V, V1: two tenants filled the budget).
  if (counted(holder) && own_sending + of(finished_held_by_, holder) >= share &&
      finished_held_by_.contains(holder))
    return Verdict::kSettle;
  return finished_in_.contains(grant.scope_) ? Verdict::kSettle : Verdict::kGo;
}

void MemoryBudget::count_finished(const Grant& grant, int delta) {
  if ((finished_in_[grant.scope_] += delta) <= 0) finished_in_.erase(grant.scope_);
  if (counted(grant.holder_)) add_to(finished_held_by_, grant.holder_, delta * grant.held_);
}

void MemoryBudget::check_room(const std::string& what, const std::string& holder,
                              std::int64_t bytes) {
  std::lock_guard lock(mu_);
  check_fits(what, holder, bytes);
}

void MemoryBudget::Grant::hold(std::int64_t bytes) {
  if (bytes <= held_) return;
  {
    std::lock_guard lock(budget_.mu_);
    budget_.check_fits(what_, holder_, bytes - held_);
    budget_.charge(*this, bytes - held_);
  }
  held_ = bytes;
}

void MemoryBudget::Grant::hold_anyway(std::int64_t bytes) {
  if (bytes <= held_) return;
  {
    std::lock_guard lock(budget_.mu_);
    budget_.charge(*this, bytes - held_);
  }
  held_ = bytes;
}

std::int64_t MemoryBudget::Grant::hold_up_to(std::int64_t more) {
  std::lock_guard lock(budget_.mu_);
  std::int64_t room = budget_.left_ - budget_.kept_from(holder_);
  if (budget_.counted(holder_))
    room = std::min(room, budget_.share_of(holder_) - budget_.held_by(holder_));
  const std::int64_t taken = std::clamp<std::int64_t>(more, 0, std::max<std::int64_t>(room, 0));
  budget_.charge(*this, taken);
  held_ += taken;
  return taken;
}

void MemoryBudget::Grant::lower_to(std::int64_t bytes) {
  if (bytes >= held_) return;
  {
    std::lock_guard lock(budget_.mu_);
    budget_.charge(*this, bytes - held_);
  }
  held_ = bytes;
}

void MemoryBudget::Grant::begin_capturing() {
  std::lock_guard lock(budget_.mu_);
  if (ticket_ != 0 || sending_) return;
  newcomer_ = budget_.kept_from(holder_) == 0;
  ticket_ = budget_.next_ticket_++;
  budget_.capturing_.emplace(ticket_, holder_);
}

void MemoryBudget::Grant::end_capturing() {
  std::lock_guard lock(budget_.mu_);
  if (ticket_ == 0) return;
  budget_.capturing_.erase(ticket_);
  ticket_ = 0;
  if (held_ > 0) {  // a finished result now, until it is sent
    budget_.count_finished(*this, +1);
    finished_ = true;
  }
  budget_.given_back_.notify_all();  // the next oldest may proceed now
}

MemoryBudget::Room MemoryBudget::Grant::wait_for_room(const std::function<bool()>& give_up) {
  std::unique_lock lock(budget_.mu_);
  const auto settle_until = std::chrono::steady_clock::now() + kSettleWait;
  for (;;) {
    const Verdict verdict = budget_.verdict_for(*this);
    if (verdict == Verdict::kGo) return Room::kKeep;
    if (verdict == Verdict::kSettle && std::chrono::steady_clock::now() >= settle_until)
      return Room::kCut;                // they may be waiting for this very command
    if (give_up()) return Room::kKeep;  // the pump ends the command as usual
    budget_.given_back_.wait_for(lock, std::chrono::milliseconds(50));
  }
}

void MemoryBudget::Grant::sending() {
  std::lock_guard lock(budget_.mu_);
  if (sending_) return;
  sending_ = true;
  budget_.count_sending(holder_, held_);
  if (finished_) budget_.count_finished(*this, -1);
  finished_ = false;
  budget_.given_back_.notify_all();  // an oldest waiting for it to settle may go on
}

MemoryBudget::Grant::~Grant() {
  end_capturing();
  std::lock_guard lock(budget_.mu_);
  if (finished_) budget_.count_finished(*this, -1);
  finished_ = false;  // counted out above: charge() must not take its bytes off again
  budget_.charge(*this, -held_);
}

}  // namespace agentfense::server
