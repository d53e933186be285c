// The send deadline of every answer of one message (unary gRPC methods and uploads).
// gRPC's synchronous server sends it after the method returned, and waits for as long as
// the client keeps its HTTP/2 window closed: the SendWatchdog used to arm only for
// answers that held output budget (exec results, file reads), so 24 unread DiffChanges
// answers of 17 MB grew the server by 1.1 GiB for good, and two principals' 1,024 unread
// ListSandboxes answers held every gRPC thread (sweep T). Now each answer, of any
// method, must be taken within kBase plus one second per kMinRate bytes of it, counted
// from when the method returned (an exec runs as long as it runs first): a client that
// reads at least kMinRate is never cancelled.
#pragma once

#include <grpcpp/server_context.h>

#include <cstddef>

#include "server/send_watchdog.h"

namespace agentfense::server {

class AnswerDeadline {
 public:
  static constexpr std::chrono::seconds kBase{60};
  static constexpr std::size_t kMinRate = std::size_t{1} << 20;  // bytes per second

  // How long an answer of `bytes` may take to be sent.
  static SendWatchdog::Clock::duration allowed_for(std::size_t bytes);

  // Around the generated handler of a call whose answer is one message: the innermost
  // of this thread until destroyed. Without a watchdog nothing is armed.
  AnswerDeadline(SendWatchdog* watchdog, grpc::ServerContext& context);
  ~AnswerDeadline();
  AnswerDeadline(const AnswerDeadline&) = delete;
  AnswerDeadline& operator=(const AnswerDeadline&) = delete;

  // The answer is made (`bytes` serialized; 0 for a failed status): it must be sent by
  // now + allowed_for(bytes), else the call is cancelled.
  void made(std::size_t bytes);
  // made() on this thread's innermost AnswerDeadline; nothing without one.
  static void answer_made(std::size_t bytes);

 private:
  SendWatchdog* const watchdog_;
  grpc::ServerContext& context_;
  SendWatchdog::Armed armed_;
  AnswerDeadline* const outer_;
};

}  // namespace agentfense::server
