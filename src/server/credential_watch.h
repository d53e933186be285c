// Ends a long-running call (exec, ExecStream, session exec, audit follow) once its caller
// no longer authenticates as the principal it was admitted as: its key was revoked, its
// entry now names other owners or role, or the keys file became invalid (which withdraws
// every key). Admission checks credentials once; without this, a call opened before a
// revocation kept serving the revoked caller until the command or the sandbox ended
// (docs/security.md "Shared server": revocation takes effect within a second).
//
// A helper thread re-authenticates the call's credentials every kPollInterval and
// revokes its CallContext: what cancelling does for a client that went away happens
// (the command is killed, a follow loop returns), and the call then ends with
// UNAUTHENTICATED whatever it returned or threw (RunWhileAdmitted).
#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include "server/call_context.h"
#include "server/call_gate.h"
#include "server/watch_thread.h"

namespace agentfense::server {

// True while the call's caller is still admitted. Null: calls are not authenticated.
using StillAdmitted = std::function<bool()>;

// For a call `gate` admitted as `admitted` on `presented`; null without a gate.
StillAdmitted RecheckWith(const CallGate* gate, PresentedCredentials presented,
                          PrincipalPtr admitted);

class CredentialWatch {
 public:
  static constexpr std::chrono::milliseconds kPollInterval{200};

  CredentialWatch(StillAdmitted still_admitted, CallContext& call);

 private:
  std::optional<WatchThread> thread_;  // none for a null StillAdmitted
};

// ApiError(UNAUTHENTICATED) when `call` was revoked.
void ThrowIfRevoked(const CallContext& call);

// For calls that move data a message at a time (uploads, downloads), without a thread
// of their own: check() re-authenticates at most every kPollInterval, and final_check()
// always, throwing ApiError(UNAUTHENTICATED) once the caller is no longer admitted. An
// upload opened before its key was revoked used to complete and land in the codebase.
class MessageCredentialCheck {
 public:
  explicit MessageCredentialCheck(StillAdmitted still_admitted)
      : still_admitted_(std::move(still_admitted)) {}
  void check();
  void final_check();

 private:
  StillAdmitted still_admitted_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Runs `run()` watched by a CredentialWatch on `call`; a revoked call ends with
// UNAUTHENTICATED instead of its own outcome (a killed command's CANCELLED, a follow
// stream's quiet end).
template <typename Run>
void RunWhileAdmitted(StillAdmitted still_admitted, CallContext& call, Run&& run) {
  try {
    const CredentialWatch watch(std::move(still_admitted), call);
    run();
  } catch (...) {
    ThrowIfRevoked(call);
    throw;
  }
  ThrowIfRevoked(call);
}

}  // namespace agentfense::server
