#include "server/grpc_request_errors.h"

#include <google/protobuf/descriptor.h>

#include "server/api.h"

namespace agentfense::server {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

class InvalidRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit InvalidRequestInterceptor(ServerRpcInfo* info) : info_(info) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    const bool one_request = info_->type() == ServerRpcInfo::Type::UNARY ||
                             info_->type() == ServerRpcInfo::Type::SERVER_STREAMING;
    // For these calls the request was received (and failed to parse) before the
    // handler; a null message here means exactly that.
    if (one_request &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr)
      unparsable_ = true;
    if (unparsable_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        methods->GetSendStatus().error_code() == grpc::StatusCode::INTERNAL) {
      methods->ModifySendStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                             UnparsableRequestMessage(info_->method())));
      if (auto* trailers = methods->GetSendTrailingMetadata())
        trailers->emplace(kReasonMetadataKey, kReasonInvalidRequest);
    }
    methods->Proceed();
  }

 private:
  ServerRpcInfo* info_;
  bool unparsable_ = false;
};

}  // namespace

std::string UnparsableRequestMessage(const std::string& method) {
  // "/sandbox.v1.SandboxService/Exec" -> "sandbox.v1.SandboxService.Exec"
  std::string full_name = method.starts_with("/") ? method.substr(1) : method;
  if (const auto slash = full_name.rfind('/'); slash != std::string::npos) full_name[slash] = '.';
  const auto* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name);
  const std::string type =
      descriptor ? descriptor->input_type()->full_name() : "request message for " + method;
  return "the request is not a valid " + type +
         " message: malformed protobuf, or a string field holding bytes that are not UTF-8 "
         "(proto3 string fields must be UTF-8; send binary data in bytes fields)";
}

grpc::experimental::Interceptor* InvalidRequestInterceptorFactory::CreateServerInterceptor(
    ServerRpcInfo* info) {
  return new InvalidRequestInterceptor(info);
}

}  // namespace agentfense::server
