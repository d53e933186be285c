#include "server/credential_watch.h"

#include <poll.h>

#include "server/api.h"

namespace agentfense::server {
namespace {

// Quotas may change under an open call; who it is and what it may reach may not.
bool same_authority(const Principal& a, const Principal& b) {
  return a.id == b.id && a.role == b.role && a.owners == b.owners;
}

}  // namespace

StillAdmitted RecheckWith(const CallGate* gate, PresentedCredentials presented,
                          PrincipalPtr admitted) {
  if (gate == nullptr || !admitted) return nullptr;
  return [gate, presented = std::move(presented), admitted = std::move(admitted)] {
    try {
      return same_authority(*gate->authenticate(presented), *admitted);
    } catch (const ApiError&) {
      return false;  // UNAUTHENTICATED: unknown or revoked key, unmapped certificate
    }
  };
}

CredentialWatch::CredentialWatch(StillAdmitted still_admitted, CallContext& call) {
  if (!still_admitted) return;
  thread_.emplace([still_admitted = std::move(still_admitted), &call](int stop_fd) {
    for (;;) {
      pollfd stop{.fd = stop_fd, .events = POLLIN, .revents = 0};
      // EINTR just shortens one interval; the loop polls again.
      if (::poll(&stop, 1, static_cast<int>(kPollInterval.count())) == 1) return;
      if (!still_admitted()) {
        call.revoke();
        return;
      }
    }
  });
}

void MessageCredentialCheck::check() {
  if (!still_admitted_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < CredentialWatch::kPollInterval) return;
  last_ = now;
  final_check();
}

void MessageCredentialCheck::final_check() {
  if (still_admitted_ && !still_admitted_())
    throw ApiError(StatusCode::UNAUTHENTICATED,
                   "the caller's credentials were revoked (or changed) while the call ran; "
                   "nothing of it was kept",
                   kReasonUnauthenticated);
}

void ThrowIfRevoked(const CallContext& call) {
  if (call.revoked())
    throw ApiError(StatusCode::UNAUTHENTICATED,
                   "the caller's credentials were revoked (or changed) while the call ran; "
                   "its command, if any, was stopped",
                   kReasonUnauthenticated);
}

}  // namespace agentfense::server
