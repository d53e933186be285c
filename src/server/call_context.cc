#include "server/call_context.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#include "common/errors.h"

namespace agentfense::server {

CallContext::CallContext() : cancelled_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!cancelled_) throw SystemError("eventfd", errno);
}

void CallContext::cancel() {
  const std::uint64_t one = 1;
  // Only fails when the counter would overflow (it cannot: at most a few writes of 1);
  // the fd is readable after the first write either way.
  (void)::write(cancelled_.get(), &one, sizeof one);
}

void CallContext::revoke() {
  revoked_ = true;  // before cancel(): whoever sees the cancellation sees the reason
  cancel();
}

bool CallContext::cancelled() const {
  pollfd probe{.fd = cancelled_.get(), .events = POLLIN, .revents = 0};
  return ::poll(&probe, 1, 0) == 1 && (probe.revents & POLLIN) != 0;
}

namespace {

thread_local KeptUntilSent* innermost_kept = nullptr;

}  // namespace

KeptUntilSent::KeptUntilSent() : outer_(innermost_kept) {
  innermost_kept = this;
}

KeptUntilSent::~KeptUntilSent() {
  innermost_kept = outer_;
}

void KeptUntilSent::keep(std::shared_ptr<void> hold) {
  if (innermost_kept == nullptr || !hold) return;
  innermost_kept->kept_ = std::move(hold);
}

}  // namespace agentfense::server
