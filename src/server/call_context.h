// What a transport knows about one call that the service needs while it runs: whether
// the caller is still there. Long-running methods (the exec family) take a CallContext;
// the transport cancels it when the client goes away (gRPC cancel, deadline or closed
// channel; HTTP connection closed), and the service cancels it itself when a stream's
// write fails. The command then gets killed with its whole process tree at once
// instead of running on, unobserved, until its timeout.
//
// The call is revoked (credential_watch.h) when its caller's credentials stop
// authenticating while it runs: cancelled as above, and remembered as the reason so the
// call ends UNAUTHENTICATED rather than CANCELLED.
//
// Who is calling is not carried here but by caller_scope.h, for every call and not only
// the long-running ones; the scoped Api (scoped_api.h) reads it there.
#pragma once

#include <atomic>
#include <memory>

#include "common/unique_fd.h"

namespace agentfense::server {

class CallContext {
 public:
  CallContext();  // throws SystemError when no eventfd can be made
  CallContext(const CallContext&) = delete;
  CallContext& operator=(const CallContext&) = delete;

  // The caller has gone. Thread-safe and idempotent.
  void cancel();
  bool cancelled() const;
  // Cancels because the caller's credentials were withdrawn. Thread-safe.
  void revoke();
  bool revoked() const { return revoked_; }
  // Readable once cancelled (never reset): what runtime::ExecSpec::cancel_fd watches.
  int cancel_fd() const { return cancelled_.get(); }

  // What the call's result keeps held until the transport has sent it (the output
  // budget's grant for a unary exec, memory_budget.h): the REST gateway streams the body
  // after its handler returned, and gRPC sends the answer after the method returned, so
  // each takes this along (gRPC: into the KeptUntilSent below) instead of dropping it
  // with the context.
  void keep_until_sent(std::shared_ptr<void> hold) { until_sent_ = std::move(hold); }
  std::shared_ptr<void> take_until_sent() { return std::move(until_sent_); }

 private:
  UniqueFd cancelled_;  // eventfd, written once by cancel()
  std::atomic<bool> revoked_ = false;
  std::shared_ptr<void> until_sent_;
};

// Where a call keeps what its result holds (CallContext::keep_until_sent, or a method
// without a CallContext: ReadSandboxFile's read grant) until the transport has sent the
// answer. The synchronous gRPC server sends a unary answer after the method returned, on
// the same thread, and returns from the method handler only once the send completed; one
// of these around the handler (grpc_admission.cc) holds it until then. A REST route
// makes one around its call and takes the hold into the body it sends (rest_routes.cc).
// Before, the output budget's grant ended with the method: a client that did not read
// its answers had the server hold 14 results of 32 MiB (+1 GB) while the budget said 0.
class KeptUntilSent {
 public:
  KeptUntilSent();
  ~KeptUntilSent();
  KeptUntilSent(const KeptUntilSent&) = delete;
  KeptUntilSent& operator=(const KeptUntilSent&) = delete;

  // Into the innermost KeptUntilSent of this thread; dropped at once without one.
  static void keep(std::shared_ptr<void> hold);
  // What was kept here, for a transport that sends the answer after this scope ends.
  std::shared_ptr<void> take() { return std::move(kept_); }

 private:
  std::shared_ptr<void> kept_;
  KeptUntilSent* const outer_;
};

}  // namespace agentfense::server
