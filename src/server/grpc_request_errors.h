// gRPC answers a request message that does not parse (malformed protobuf, or a proto3
// string field holding bytes that are not UTF-8) itself, before any of our code runs:
// INTERNAL with an empty message. This server interceptor turns that answer into
// INVALID_ARGUMENT naming the message type expected, with reason INVALID_REQUEST.
//
// It applies to calls with one request message (unary and server-streaming). For
// client streams a message that does not parse reads as the end of the stream; the
// services' readers detect that themselves (grpc_service.cc NextFrom).
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

namespace agentfense::server {

// "the request is not a valid <type> message: ..." for the method's input type, where
// `method` is gRPC's "/package.Service/Method".
std::string UnparsableRequestMessage(const std::string& method);

class InvalidRequestInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace agentfense::server
