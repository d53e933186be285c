// Cancels a CallContext when its gRPC call is cancelled: the client cancelled it, its
// deadline passed, or its channel or connection closed. The synchronous API offers no
// notification for this, only ServerContext::IsCancelled() (thread-safe for sync
// calls), so a helper thread polls it every kPollInterval while the call runs.
#pragma once

#include <grpcpp/server_context.h>

#include <chrono>

#include "server/call_context.h"
#include "server/watch_thread.h"

namespace agentfense::server {

class GrpcCancelWatch {
 public:
  static constexpr std::chrono::milliseconds kPollInterval{50};

  GrpcCancelWatch(const grpc::ServerContext& context, CallContext& call);

 private:
  WatchThread thread_;
};

}  // namespace agentfense::server
