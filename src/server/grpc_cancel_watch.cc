#include "server/grpc_cancel_watch.h"

#include <poll.h>

namespace agentfense::server {

GrpcCancelWatch::GrpcCancelWatch(const grpc::ServerContext& context, CallContext& call)
    : thread_([&context, &call](int stop_fd) {
        for (;;) {
          pollfd stop{.fd = stop_fd, .events = POLLIN, .revents = 0};
          // EINTR just shortens one interval; the loop polls again.
          if (::poll(&stop, 1, static_cast<int>(kPollInterval.count())) == 1) return;
          if (context.IsCancelled()) {
            call.cancel();
            return;
          }
        }
      }) {}

}  // namespace agentfense::server
