// The authenticated caller of the call running on this thread. The transports install
// it (CallerScope) for exactly the duration of one call, after the CallGate admitted it;
// the service's scoping and quotas (scoped_api.h) read it with current_caller(), so no
// method of the transport-neutral Api (api.h) needs a parameter for it.
//
// A call's work that moves to another thread (the REST gateway runs streamed uploads and
// responses on workers, rest_streams.h) takes the caller along: capture current_caller()
// and open a CallerScope on the worker.
//
// Fail closed: where no scope is open, current_caller() is null and the scoped Api
// refuses the call (INTERNAL) rather than guessing who it is.
#pragma once

#include "server/principal.h"

namespace agentfense::server {

class CallerScope {
 public:
  explicit CallerScope(PrincipalPtr caller);
  ~CallerScope();
  CallerScope(const CallerScope&) = delete;
  CallerScope& operator=(const CallerScope&) = delete;

 private:
  PrincipalPtr previous_;
};

// The caller of the call on this thread; null outside any CallerScope.
const PrincipalPtr& current_caller();

}  // namespace agentfense::server
