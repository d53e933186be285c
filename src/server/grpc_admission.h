// Admission of a gRPC call at its headers, before its request message is parsed.
//
// gRPC's synchronous server parses a unary or server-streaming call's request before any
// handler or interceptor sees the call: a caller without credentials sent a 62 MiB
// CreateSandboxRequest of 31 million empty rules and the server grew by 1.8 GB parsing
// it, only to answer UNAUTHENTICATED. AdmittedService serves a generated service's
// methods through handlers that take the request still serialized (gRPC has read its
// bytes, at most kMaxGrpcMessageBytes) and, in this order:
//   1. admit the call through the CallGate (authentication and request rate), from the
//      metadata alone, take one of the caller's share of the server's threads
//      (principal_share.h; held until the call ends), and run everything after as the
//      caller (CallerScope);
//   2. refuse a request larger than its method's limit (GrpcRequestLimit);
//   3. refuse one whose repeated fields hold too many entries (request_wire_check.h);
//   4. parse it, answering one that does not parse INVALID_ARGUMENT naming its type;
// and only then run the generated handler (hence the service's method). A refusal is
// sent as the service's own errors are: its status, reason in "agentfense-reason".
//
// Client-streaming calls are passed through unchanged: their handler runs before any
// message is read and admits the call itself (grpc_service.cc).
//
// A server interceptor sees the still-serialized request (a grpc_byte_buffer*) at
// POST_RECV_MESSAGE of these calls, not the message.
#pragma once

#include <google/protobuf/descriptor.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "server/call_gate.h"
#include "server/error_status.h"
#include "server/principal_share.h"
#include "server/send_watchdog.h"

namespace agentfense::server {

// What one message may be, server wide: a WriteSandboxFile of a 64 MiB file, 4 MiB
// upload and download chunks, whole-file ReadSandboxFile responses.
inline constexpr int kMaxGrpcMessageBytes = 64 << 20;
// What a request of any other method may be: no other request needs more.
inline constexpr std::size_t kMaxGrpcRequestBytes = 4 << 20;

// kMaxGrpcMessageBytes for WriteSandboxFile; for Exec and ExecStream, their stdin limit
// (16 MiB) and 1 MiB for the command, env and workdir; kMaxGrpcRequestBytes otherwise.
std::size_t GrpcRequestLimit(const google::protobuf::MethodDescriptor& method);

// The status (and reason metadata on `context`) a failed call sends.
grpc::Status GrpcStatusOf(grpc::ServerContext& context, const ErrorInfo& error);

class AdmittedService final : public grpc::Service {
 public:
  // `handler_of(i)`: the generated handler of `service`'s method i (in .proto order),
  // owned by the generated service, which must outlive this one. `share` (optional)
  // bounds each principal's calls in flight; the local principal is not counted.
  // `watchdog` (optional) cancels a call whose answer of one message is not taken within
  // its deadline (answer_deadline.h).
  AdmittedService(const google::protobuf::ServiceDescriptor& service,
                  const std::function<grpc::internal::MethodHandler*(int)>& handler_of,
                  CallGate* gate, PrincipalShare* share, SendWatchdog* watchdog = nullptr);

 private:
  std::vector<std::string> names_;  // "/package.Service/Method", which gRPC keeps pointers to
};

}  // namespace agentfense::server
