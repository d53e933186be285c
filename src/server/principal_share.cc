#include "server/principal_share.h"

#include <algorithm>

#include "common/api_error.h"
#include "server/caller_scope.h"
#include "server/fair_share.h"

namespace agentfense::server {

namespace {

// What a tenant may hold now, of `pool` threads of which the other tenants hold `others`:
// its fair share, less the reserve (kept free for tenants that hold fewer than
// kReserveFloor), and kReserveFloor at least while threads are free.
std::int64_t share_now(std::int64_t pool, std::int64_t others) {
  const std::int64_t left = pool - others;
  const std::int64_t fair = fair_share(pool, pool / 2, others);
  return std::max<std::int64_t>(std::min(fair, left - PrincipalShare::reserve(pool)),
                                std::min<std::int64_t>(PrincipalShare::kReserveFloor, left));
}

}  // namespace

PrincipalShare::Held PrincipalShare::take(const std::string& holder) {
  const std::lock_guard lock(mu_);
  std::size_t& in_flight = in_flight_[holder];
  const auto pool = static_cast<std::int64_t>(pool_);
  const auto others = static_cast<std::int64_t>(all_in_flight_ - in_flight);
  const std::int64_t share = std::max<std::int64_t>(share_now(pool, others), 0);
  if (pool_ > 0 && static_cast<std::int64_t>(in_flight) >= share) {
    // The fixed bounds only: the share now would tell how many calls the other tenants
    // have in flight (sweep U, U6).
    const std::string bound = std::to_string(pool / 2) + " per tenant: " + threads_ +
                              " are shared" +
                              (share == pool / 2 ? ""
                               : share == fair_share(pool, pool / 2, others)
                                   ? "; now less: half of what other tenants leave"
                                   : "; now less: " + std::to_string(reserve(pool)) +
                                         " of them stay free for tenants that "
                                         "hold fewer than " +
                                         std::to_string(kReserveFloor));
    const std::string held = std::to_string(in_flight);
    if (in_flight == 0) in_flight_.erase(holder);
    throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                   holder + " already has " + held + " " + calls_ + " in flight (at most " + bound +
                       "); wait for one to finish",
                   kReasonQuotaExceeded);
  }
  ++in_flight;
  ++all_in_flight_;
  return Held(*this, holder);
}

std::string share_holder(const PrincipalPtr& caller) {
  if (!caller || caller == local_principal()) return "";
  if (caller->owners.empty()) return "principal " + caller->id;
  std::vector<std::string> owners = caller->owners;
  std::sort(owners.begin(), owners.end());
  std::string joined;
  for (const std::string& owner : owners) joined += (joined.empty() ? "" : ",") + owner;
  return (owners.size() == 1 ? "owner " : "owners ") + joined;
}

std::string caller_holder() {
  return share_holder(current_caller());
}

std::optional<PrincipalShare::Held> take_share(PrincipalShare* share, const PrincipalPtr& caller) {
  const std::string holder = share_holder(caller);
  if (share == nullptr || holder.empty()) return std::nullopt;
  return share->take(holder);
}

PrincipalShare::Held::~Held() {
  if (share_ == nullptr) return;
  const std::lock_guard lock(share_->mu_);
  --share_->all_in_flight_;
  if (--share_->in_flight_[holder_] == 0) share_->in_flight_.erase(holder_);
}

}  // namespace agentfense::server
