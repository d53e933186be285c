#include "server/principal_share.h"

#include "common/api_error.h"

namespace agentfense::server {

PrincipalShare::Held PrincipalShare::take(const std::string& principal) {
  const std::lock_guard lock(mu_);
  std::size_t& in_flight = in_flight_[principal];
  if (per_principal_ > 0 && in_flight >= per_principal_) {
    const std::string limit = std::to_string(per_principal_);
    throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                   "principal " + principal + " already has " + limit + " " + calls_ +
                       " in flight (at most " + limit + " per principal: " + threads_ +
                       " are shared); wait for one to finish",
                   kReasonQuotaExceeded);
  }
  ++in_flight;
  return Held(*this, principal);
}

std::string share_holder(const PrincipalPtr& caller) {
  return !caller || caller == local_principal() ? "" : caller->id;
}

std::string budget_holder(const PrincipalPtr& caller, const std::string& owner) {
  const std::string holder = share_holder(caller);
  if (holder.empty()) return "";
  return owner.empty() ? "principal " + holder : "owner " + owner;
}

std::optional<PrincipalShare::Held> take_share(PrincipalShare* share, const PrincipalPtr& caller) {
  const std::string holder = share_holder(caller);
  if (share == nullptr || holder.empty()) return std::nullopt;
  return share->take(holder);
}

PrincipalShare::Held::~Held() {
  if (share_ == nullptr) return;
  const std::lock_guard lock(share_->mu_);
  if (--share_->in_flight_[principal_] == 0) share_->in_flight_.erase(principal_);
}

}  // namespace agentfense::server
